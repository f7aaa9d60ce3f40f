"""One WebSocket connection: a bounded outbound queue drained by its own writer task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import WebSocket
from litestar.types import WebSocketCloseEvent, WebSocketSendEvent

from gomicroim.gateway import frames
from gomicroim.gateway.protocol import SEND_TEXT_NOWAIT, SEND_TEXTS_NOWAIT
from gomicroim.modules.identity.contract import Principal

log = logging.getLogger("gomicroim.gateway")

_ids = itertools.count(1)
_background: set[asyncio.Task[None]] = set()


class Connection:
    """A device's socket. ``send`` never blocks: frames go out at once or queue, bounded.

    A frame is written straight to the transport when nothing is queued and the transport takes
    it; otherwise it queues (up to ``max_pending_bytes``) for a writer task that exists only
    while there is a backlog, so an idle socket costs no task. A client that does not read fast
    enough is disconnected (close 1013) instead of letting its queue grow without bound; it
    catches up by pulling after reconnecting.

    Until :meth:`open` sends the ``hello``, frames routed to the connection are held (within the
    same bound) so that ``hello`` is always the first frame. The socket is also closed (4401)
    when its access token expires, unless :meth:`expire_at` is moved on by a ``reauth``, and
    (4408) when nothing was read from it for the idle timeout; the gateway's deadline sweep
    calls :meth:`enforce_deadlines` for both, so an idle socket holds no timer of its own.
    """

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        principal: Principal,
        *,
        node_id: str,
        max_pending_bytes: int,
    ):
        # ASGI events (the backlog, the close) go out through this; see send_events_with.
        self._send_event: Callable[[Any], Awaitable[None]] = socket.send if socket else _nowhere
        self.principal = principal
        self.id = f"{node_id}:{next(_ids)}"
        self.acked_user_seq = 0
        self._max_pending = max_pending_bytes
        # Created on the first backlog: most sockets keep up and never need one.
        self._frames: deque[str] | None = None
        self._pending = 0
        self._close: tuple[int, str] | None = None
        self._closed = False
        self._close_sent: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._held = True
        #: Loop time of the last frame read (the idle timeout counts from it).
        self.last_read_s = 0.0
        self.frames_read = 0
        self._expires_s: float | None = None
        extensions: dict[str, Any] = (socket.scope.get("extensions") or {}) if socket else {}
        # Offered by our uvicorn protocol: write a frame without a task switch when possible.
        self._send_now: Callable[[str], bool] | None = extensions.get(SEND_TEXT_NOWAIT)
        self._send_many_now: Callable[[list[str]], bool] | None = extensions.get(SEND_TEXTS_NOWAIT)

    def send_events_with(self, send: Callable[[Any], Awaitable[None]]) -> None:
        """Send ASGI events with ``send`` from now on (the socket was detached from its app)."""
        self._send_event = send

    @property
    def user_id(self) -> int:
        """The connected user."""
        return self.principal.user_id

    @property
    def device_id(self) -> str:
        """The connected device."""
        return self.principal.device_id

    @property
    def closing(self) -> bool:
        """True once a close was requested; further frames are dropped."""
        return self._close is not None

    def open(self, hello: str) -> None:
        """Send ``hello``, then whatever was routed here while the handshake ran."""
        if not self._held:
            return
        self._held = False
        self.last_read_s = asyncio.get_running_loop().time()
        if self._close is not None:
            return
        if not self._frames:
            self.send(hello)
            return
        self._frames.appendleft(hello)
        self._pending += len(hello)
        self._start_writer()

    def expire_at(self, expires_at_ms: int | None) -> None:
        """Close with 4401 ``token_expired`` at ``expires_at_ms`` (Unix ms); None: never."""
        if expires_at_ms is None:
            self._expires_s = None
            return
        delay = max(0.0, expires_at_ms / 1000 - time.time())
        self._expires_s = asyncio.get_running_loop().time() + delay

    def enforce_deadlines(self, now_s: float, idle_timeout_s: float) -> None:
        """Close if the token expired or nothing was read for ``idle_timeout_s`` (loop time)."""
        if self._close is not None or self._held:
            return
        if self._expires_s is not None and now_s >= self._expires_s:
            kick = frames.Kick(reason="access token expired; reconnect with a new one")
            code, reason = frames.CLOSE_UNAUTHENTICATED, "token_expired"
        elif now_s - self.last_read_s >= idle_timeout_s:
            kick = frames.Kick(reason="idle timeout")
            code, reason = frames.CLOSE_IDLE, "idle timeout"
        else:
            return
        self.close_soon(code, reason, after=frames.encode(kick))

    def send(self, frame: str) -> bool:
        """Send or queue a frame; False when the connection is closing or just overflowed."""
        if self._close is not None:
            return False
        if (
            self._writer is None
            and not self._held
            and self._send_now is not None
            and self._send_now(frame)
        ):
            return True
        size = len(frame)
        if self._pending + size > self._max_pending:
            log.warning(
                "slow consumer disconnected",
                extra={
                    "user_id": self.user_id,
                    "device_id": self.device_id,
                    "pending_bytes": self._pending,
                },
            )
            self._abort(1013, "slow consumer: too much unread output")
            return False
        self._backlog().append(frame)
        self._pending += size
        self._start_writer()
        return True

    def _backlog(self) -> deque[str]:
        if self._frames is None:
            self._frames = deque()
        return self._frames

    def send_many(self, frames: list[str]) -> None:
        """Send frames in order; written together when the socket keeps up."""
        if (
            self._close is None
            and self._writer is None
            and not self._held
            and self._send_many_now is not None
            and self._send_many_now(frames)
        ):
            return
        for frame in frames:
            if not self.send(frame):
                return

    def close_soon(self, code: int, reason: str, *, after: str | None = None) -> None:
        """Send ``after`` (if given) after what is queued, then close with ``code``."""
        if self._close is not None:
            return
        if self._held:
            # Not even the hello went out: drop what was routed meanwhile, the client pulls it.
            self._held = False
            self._drop_backlog()
        self._expires_s = None
        if after is not None:
            self._backlog().append(after)
        else:
            # Pending output is dropped: the client pulls what it missed.
            self._drop_backlog()
        self._close = (code, reason)
        self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None and not self._closed and not self._held:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_backlog(), name=f"ws-writer-{self.id}"
            )

    def _abort(self, code: int, reason: str) -> None:
        """Close now, even if the writer is stuck sending to a peer that stopped reading."""
        self.close_soon(code, reason)
        if self._sending:
            # The writer waits for the peer to drain; send the close beside it. The protocol
            # sends it without waiting and aborts the transport if the peer never answers.
            close: WebSocketCloseEvent = {"type": "websocket.close", "code": code, "reason": reason}
            task = asyncio.get_running_loop().create_task(self._send_quietly(close))
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _send_quietly(self, event: WebSocketCloseEvent) -> None:
        with contextlib.suppress(Exception):
            await self._send_event(event)

    async def _write_backlog(self) -> None:
        """Send queued frames in order, then the close if one was asked for; then end."""
        send = self._send_event
        frame_event: WebSocketSendEvent = {"type": "websocket.send", "bytes": None, "text": None}
        try:
            while self._frames:
                frame = self._frames.popleft()
                self._pending -= len(frame)
                frame_event["text"] = frame
                self._sending = True
                await send(frame_event)
                self._sending = False
            if self._close is not None:
                code, reason = self._close
                await send({"type": "websocket.close", "code": code, "reason": reason})
                self._finish()
        except Exception:
            log.debug("write failed", extra={"connection": self.id})
            self._close = self._close or (1006, "gone")
            self._finish()
        finally:
            self._sending = False
            self._writer = None
            if not self._frames:
                self._frames = None

    def _drop_backlog(self) -> None:
        if self._frames is not None:
            self._frames.clear()
        self._pending = 0

    def _finish(self) -> None:
        self._closed = True
        self._drop_backlog()
        if self._close_sent is not None:
            self._close_sent.set()

    async def wait_closed(self, timeout_s: float) -> None:
        """Wait until the close frame went out (or the writer gave up)."""
        if self._closed:
            return
        self._close_sent = self._close_sent or asyncio.Event()
        self._start_writer()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._close_sent.wait(), timeout_s)

    def cancel(self) -> None:
        """Stop any writer (the connection is being torn down)."""
        self._expires_s = None
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None


async def _nowhere(event: Any) -> None:
    """The sender of a connection built without a socket (tests of its queueing alone)."""
