"""uvicorn's WebSocket protocol, made to give up on peers that stopped reading.

The stock protocol waits for the transport to drain before it sends anything, the close frame
included, and closes gracefully, which flushes first: a client that never reads again would
hold its socket and kernel buffers forever. Here a close goes out at once and the transport is
aborted if the peer has not finished the closing handshake within the close timeout.

It also answers what the stock one leaves to chance: an upgrade request websockets refuses (a
URL or header too long, too many headers) gets its 414/431/400 with the error JSON and the
connection ends, on every uvicorn version; a text frame that is not UTF-8 closes with 1007
without logging a traceback; and pings from a peer that reads nothing are not answered with
an ever-growing pile of pongs.

Incoming data is parsed in small steps, and parsing waits while the app has a few dozen frames
unread: a client that sends thousands of tiny frames in one TCP read neither holds the event
loop for the whole read nor fills an unbounded queue of parsed frames.

And it is built for many idle sockets: the app may detach an open socket (:data:`DETACH`) and
let its ASGI task end, the upgrade request is let go once the socket is open, and the inbound
queue and flow-control flag are slot-sized (:mod:`gomicroim.gateway.waiting`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import msgspec
from uvicorn._types import ASGIReceiveEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import (
    HeaderLineTooLong,
    InvalidState,
    RequestLineTooLong,
    TooManyHeaders,
)
from websockets.http11 import Request, Response
from websockets.protocol import Protocol, State

from gomicroim.gateway.frames import CLOSE_TOO_MANY
from gomicroim.gateway.waiting import Flag, Inbox

log = logging.getLogger("gomicroim.gateway")

#: Bytes parsed at a time, and parsed frames the app may leave unread before parsing waits.
_PARSE_STEP = 4096
_MAX_UNREAD = 64

#: ASGI scope extension holding :meth:`GatewayWebSocketProtocol.send_text_nowait`.
SEND_TEXT_NOWAIT = "gomicroim.send_text_nowait"
#: ASGI scope extension holding :meth:`GatewayWebSocketProtocol.send_texts_nowait`.
SEND_TEXTS_NOWAIT = "gomicroim.send_texts_nowait"
#: ASGI scope extension holding :meth:`GatewayWebSocketProtocol.detach`.
DETACH = "gomicroim.detach"


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 5.2), as a server sends it.

    websockets builds each frame through a ``Frame`` object, its checks and its serializer,
    about a fifth of the server's CPU in a group fan-out; a server's frame without extensions
    is only this header before the payload, the same bytes for every socket.
    """
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """Close without waiting for a stalled peer; abort if it never answers the close."""

    #: Seconds a peer has to answer our close frame before the connection is aborted.
    close_timeout_s = 2.0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.close_timeout = self.close_timeout_s
        # Same behaviour, a fraction of the memory: an idle socket holds these for its life.
        self._inbox: Inbox[ASGIReceiveEvent] = Inbox()
        self.queue = self._inbox  # type: ignore[assignment]
        self.writable = Flag(True)  # type: ignore[assignment]
        self._unparsed = b""
        self._parse_scheduled = False
        self._deaf = False
        self._detached = False

    def data_received(self, data: bytes) -> None:
        """As uvicorn's, in steps; a request websockets cannot take is answered and ended here."""
        if self.handshake_initiated:
            if self._deaf:
                return
            if self.close_sent:
                # Closing: frames are discarded anyway, only the peer's close reply matters.
                self._unparsed = b""
                super().data_received(data)
            elif self._unparsed:
                self._unparsed += data
            else:
                self._parse(data)
            return
        self.conn.receive_data(data)
        if self.conn.handshake_exc is not None:
            self._refuse_request(self.conn.handshake_exc)
            return
        self.handle_events()
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()

    def _parse(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(data), _PARSE_STEP):
            if self.close_sent or self.transport.is_closing():
                return
            if self.queue.qsize() >= _MAX_UNREAD:
                self._unparsed = bytes(view[start:])
                self.read_paused = True
                self.transport.pause_reading()
                return
            super().data_received(bytes(view[start : start + _PARSE_STEP]))

    def _parse_unparsed(self) -> None:
        self._parse_scheduled = False
        data, self._unparsed = self._unparsed, b""
        if self.close_sent or self.transport.is_closing():
            return
        self._parse(data)
        if not self._unparsed and self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()

    async def receive(self) -> ASGIReceiveEvent:
        """As uvicorn's; reading resumes only once what was left unparsed is parsed."""
        message = await self.queue.get()
        if self._unparsed:
            if self.queue.qsize() < _MAX_UNREAD // 2 and not self._parse_scheduled:
                # Later, not now: other sockets get their turn between two steps.
                self._parse_scheduled = True
                self.loop.call_soon(self._parse_unparsed)
        elif self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def _refuse_request(self, error: Exception) -> None:
        self.conn.data_to_send()  # websockets' own plain-text answer, replaced by ours
        if isinstance(error, RequestLineTooLong):
            status, code, fix = 414, "uri_too_long", "shorten the URL"
        elif isinstance(error, HeaderLineTooLong | TooManyHeaders):
            status, code, fix = 431, "headers_too_large", "send fewer or shorter headers"
        else:
            status, code, fix = 400, "invalid_request", "send an HTTP/1.1 WebSocket upgrade"
        message = f"cannot open a WebSocket: {error}; {fix}"
        body = msgspec.json.encode({"error": {"code": code, "message": message}})
        headers = Headers(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ]
        )
        self.transport.write(Response(status, HTTPStatus(status).phrase, headers, body).serialize())
        self.handshake_complete = True
        self.close_sent = True
        self.transport.close()
        log.info("websocket upgrade refused", extra={"status": status, "code": code})

    def send_receive_event_to_app(self) -> None:
        """As uvicorn's, except that text that is not UTF-8 closes 1007 quietly."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                # uvicorn logs this with a traceback as if it were our bug; it is the client's.
                self.frames = []
                log.info("websocket text frame not UTF-8, closing 1007")
                self.conn.send_close(1007, "text frame is not valid UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def handle_ping(self) -> None:
        """Answer a ping, unless the peer is not reading what we already sent.

        RFC 6455 (5.5.3) allows answering only the latest of several pings; a peer that pings
        without reading would otherwise grow our output buffer one pong at a time.
        """
        pong = self.conn.data_to_send()
        if self.writable.is_set():
            self.transport.write(b"".join(pong))

    def handle_connect(self, event: Request) -> None:
        """As uvicorn's, and offer :meth:`send_text_nowait` to the app as a scope extension."""
        super().handle_connect(event)
        self._drop_request_parser()
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_TEXT_NOWAIT] = self.send_text_nowait
            scope["extensions"][SEND_TEXTS_NOWAIT] = self.send_texts_nowait
            scope["extensions"][DETACH] = self.detach

    def detach(self, on_input: Callable[[], None]) -> GatewayWebSocketProtocol:
        """Keep the socket open after the ASGI app returns; call ``on_input`` as events arrive.

        An open socket otherwise holds the app's task for its whole life, and with it every
        coroutine frame from uvicorn through Litestar's middleware to the read loop (about
        7 KiB an idle socket). After this the caller reads with :meth:`receive` while
        :meth:`pending` is non-zero, and sends with :meth:`send`, as an ASGI app would;
        ``on_input`` is called for an event that arrives while nobody waits in :meth:`receive`.
        """
        self._detached = True
        self._inbox.on_put = on_input
        return self

    def pending(self) -> int:
        """Events that :meth:`receive` returns without waiting."""
        return self._inbox.qsize()

    async def run_asgi(self) -> None:
        """As uvicorn's, except that a detached socket stays open when the app returns."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
            elif self._detached:
                # The app's state in the scope (the query string's token, every header) is
                # not read again; only what uvicorn's own log lines use is kept.
                self.scope = {  # type: ignore[typeddict-item]
                    "type": "websocket",
                    "client": self.client,
                    "raw_path": self.scope["raw_path"],
                    "query_string": b"",
                }
                return
        if self.close_timer is None:
            self.transport.close()

    def _drop_request_parser(self) -> None:
        """Restart websockets' parser at the first frame, letting go of the upgrade request.

        Its parser is one generator that parsed the request and goes on parsing frames, and
        the request (every header, twice) stays a local of it for the socket's whole life.
        A client sends nothing before our 101 (RFC 6455 4.1), so the parser has consumed
        nothing past the request and a fresh frame parser takes over at the same point.
        """
        accepting = self.response is not None and self.response.status_code == 101
        if accepting and self.conn.state is State.CONNECTING and not self.conn.reader.buffer:
            self.conn.parser = Protocol.parse(self.conn)
            next(self.conn.parser)

    def send_texts_nowait(self, texts: list[str]) -> bool:
        """:meth:`send_text_nowait` for several frames, with one write to the transport."""
        if not self._can_write_now():
            return False
        if self._plain_frames():
            self.transport.write(b"".join([text_frame(text.encode()) for text in texts]))
            return True
        try:
            for text in texts:
                self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def _plain_frames(self) -> bool:
        """Whether a text frame is just a header and the payload (no extension, open)."""
        return not self.conn.extensions and self.conn.state is State.OPEN

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
        return self.send_texts_nowait([text])

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
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The upgrade request and its response (headers and all) are not read again once
            # the handshake went out; an idle socket would keep them for its whole life.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
        if closing and self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self._abort)
            if message.get("code") == CLOSE_TOO_MANY:
                # A flooding peer does not get to keep us parsing until it answers the close:
                # stop reading; the close timer ends the connection.
                self._deaf = True
                self._unparsed = b""
                self.transport.pause_reading()

    def _abort(self) -> None:
        self.close_timer = None
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: reset the connection and drop the unsent output. A plain close would
            # keep the socket (and its buffers) alive, trying to flush to a peer that never reads.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
