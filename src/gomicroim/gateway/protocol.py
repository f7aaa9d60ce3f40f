"""uvicorn's WebSocket protocol, made to give up on peers that stopped reading.

The stock protocol waits for the transport to drain before it sends anything, the close frame
included, and closes gracefully, which flushes first: a client that never reads again would
hold its socket and kernel buffers forever. Here a close goes out at once and the transport is
aborted if the peer has not finished the closing handshake within the close timeout.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """Close without waiting for a stalled peer; abort if it never answers the close."""

    #: Seconds a peer has to answer our close frame before the connection is aborted.
    close_timeout_s = 2.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.close_timeout = self.close_timeout_s

    async def send(self, message: Any) -> None:
        """As uvicorn's, except that a close frame does not wait for the peer to read."""
        closing = message["type"] == "websocket.close" and self.handshake_complete
        if closing and not self.writable.is_set():
            self.writable.set()
            try:
                await super().send(message)
            finally:
                if not self.disconnected:
                    self.writable.clear()
        else:
            await super().send(message)
        if closing and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        self.close_timer = None
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: reset the connection and drop the unsent output. A plain close would
            # keep the socket (and its buffers) alive, trying to flush to a peer that never reads.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
