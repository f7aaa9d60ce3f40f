"""uvicorn's httptools protocol with the limits a public listener needs.

The stock protocol buffers a request head without bound (ten unfinished 40 MB headers cost
hundreds of MiB before any authentication), counts no headers, and lets a client hold a
connection for ever by sending a request a byte at a time or nothing at all. This subclass:

* answers 414 once a request line, or 431 once a head, passes ``max_header_bytes``, and 431
  past ``max_headers`` header lines, and feeds the parser nothing beyond the limit;
* closes a connection whose head has not arrived within ``header_timeout_s`` of the
  connection opening or the request's first byte (slowloris, idle new connections), and
  one whose body has not arrived within ``body_timeout_s`` of its head; both answer 408 when
  no response has started;
* answers every refusal in the one JSON error shape.

Idle keep-alive connections are closed by uvicorn's own ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gomicroim.http.errors import ErrorBody, ErrorResponse
from gomicroim.http.observability import SECURITY_HEADERS

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


@dataclass(frozen=True)
class HttpLimits:
    """What one connection may cost before the app sees a request."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request we refuse."""


def refusal(status: int, code: str, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response in the error shape."""
    body = msgspec.json.encode(ErrorResponse(error=ErrorBody(code=code, message=message)))
    head = [b"HTTP/1.1 %d %s" % (status, _REASONS[status])]
    head += [b"%s: %s" % header for header in SECURITY_HEADERS]
    head += [
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"cache-control: no-store",
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with head size and count limits and read deadlines.

    Build a configured subclass with :func:`guarded_http_protocol`; uvicorn instantiates it per
    connection.
    """

    limits = HttpLimits(
        max_header_bytes=16384, max_headers=100, header_timeout_s=10.0, body_timeout_s=30.0
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        # Whether the request line (method, target, version) of the current head has ended.
        self._line_done = False
        self._refusal: bytes | None = None
        self._deadline: asyncio.TimerHandle | None = None

    # Connection lifetime

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """As uvicorn's; the head deadline starts now, so silent connections are closed too."""
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        """As uvicorn's, and no deadline outlives the connection."""
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        """Hand over to the WebSocket protocol, which has its own timeouts."""
        self._disarm()
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        """Feed the parser, never more than ``max_header_bytes`` of an unfinished head."""
        if self._in_head:
            room = self.limits.max_header_bytes - self._head_bytes
            if not self._line_done and b"\n" in data[:room]:
                self._line_done = True
            if len(data) > room:
                # The head may still end within the limit, with body bytes after it.
                super().data_received(data[:room])
                if self._in_head and not self.transport.is_closing():
                    self._refuse_oversized()
                    return
                data = data[room:]
            else:
                self._head_bytes += len(data)
        if not self.transport.is_closing():
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser rejected (or we stopped) in the error shape."""
        if self._refusal is None:
            self._refusal = refusal(400, "malformed_request", "the HTTP request is malformed")
        self._disarm()
        self.transport.write(self._refusal)
        self.transport.close()

    # Parser callbacks

    def on_message_begin(self) -> None:
        """A new request: count its head afresh; its deadline runs from this first byte."""
        super().on_message_begin()
        self._header_count = 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout_s, "request head")

    def on_header(self, name: bytes, value: bytes) -> None:
        """As uvicorn's, up to ``max_headers`` headers."""
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = refusal(
                431,
                "too_many_headers",
                f"more than server.max_headers ({self.limits.max_headers}) header lines",
            )
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is in: stop its deadline and, unless upgrading, start the body's."""
        self._in_head = False
        self._disarm()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(self.limits.body_timeout_s, "request body")

    def on_message_complete(self) -> None:
        """The whole request is in; the next head starts counting with the next byte."""
        self._disarm()
        self._in_head = True
        self._head_bytes = 0
        self._line_done = False
        super().on_message_complete()

    # Deadlines

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            message = f"the {what} did not arrive within {seconds:g} s"
            self.transport.write(refusal(408, "request_timeout", message))
        self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refusal = refusal(status, code, message)
        self.send_400_response(message)

    def _refuse_oversized(self) -> None:
        limit = self.limits.max_header_bytes
        if self._line_done:
            self._refuse(
                431,
                "headers_too_large",
                f"request head over server.max_header_bytes ({limit} bytes)",
            )
        else:
            self._refuse(
                414, "uri_too_long", f"request line over server.max_header_bytes ({limit} bytes)"
            )


def guarded_http_protocol(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    """A :class:`GuardedHttpProtocol` subclass bound to ``limits``, for ``uvicorn.Config``."""
    return type("ConfiguredHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
