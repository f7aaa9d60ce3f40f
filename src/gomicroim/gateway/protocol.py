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
from websockets.exceptions import InvalidState
from websockets.http11 import Request

#: ASGI scope extension holding :meth:`GatewayWebSocketProtocol.send_text_nowait`.
SEND_TEXT_NOWAIT = "gomicroim.send_text_nowait"
#: ASGI scope extension holding :meth:`GatewayWebSocketProtocol.send_texts_nowait`.
SEND_TEXTS_NOWAIT = "gomicroim.send_texts_nowait"


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """Close without waiting for a stalled peer; abort if it never answers the close."""

    #: Seconds a peer has to answer our close frame before the connection is aborted.
    close_timeout_s = 2.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.close_timeout = self.close_timeout_s

    def handle_connect(self, event: Request) -> None:
        """As uvicorn's, and offer :meth:`send_text_nowait` to the app as a scope extension."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_TEXT_NOWAIT] = self.send_text_nowait
            scope["extensions"][SEND_TEXTS_NOWAIT] = self.send_texts_nowait

    def send_texts_nowait(self, texts: list[str]) -> bool:
        """:meth:`send_text_nowait` for several frames, with one write to the transport."""
        if not self._can_write_now():
            return False
        try:
            for text in texts:
                self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def _can_write_now(self) -> bool:
        return bool(
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
        )

    def send_text_nowait(self, text: str) -> bool:
        """Write a text frame now if the transport takes it without waiting.

        A push to an idle, keeping-up socket then costs no task switch and no ASGI round; when
        this answers False the caller queues the frame for its writer task as usual.
        """
        if not self._can_write_now():
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

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
