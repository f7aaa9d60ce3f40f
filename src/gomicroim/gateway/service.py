"""Gateway: authenticates sockets, runs their read loops and delivers pushes to them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from litestar.connection import WebSocket

from gomicroim.errors import AppError, Unauthenticated, Unavailable
from gomicroim.gateway import frames
from gomicroim.gateway.budget import FrameBudget, Verdict
from gomicroim.gateway.connection import Connection
from gomicroim.gateway.contract import PushBatch
from gomicroim.gateway.deadlines import DeadlineSweeper
from gomicroim.gateway.detached import Detach, DetachedReads
from gomicroim.gateway.handshake import (
    access_token,
    client_ip,
    refuse_too_many,
    refuse_unavailable,
)
from gomicroim.gateway.ports import ConnectionQuota, ConnectionSlot
from gomicroim.gateway.presence import PresenceSubscriptions
from gomicroim.gateway.protocol import DETACH
from gomicroim.gateway.registry import ConnectionRegistry
from gomicroim.gateway.typing import TypingRelay
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.identity.contract import (
    IdentityFacade,
    Principal,
    SessionEnded,
    SessionEvents,
)
from gomicroim.modules.presence.contract import (
    ConnectionDisplaced,
    DeviceConnection,
    PresenceFacade,
)
from gomicroim.modules.timeline.contract import TimelineFacade

log = logging.getLogger("gomicroim.gateway")

#: Sockets written per batch, or frames read from one socket, between yields to the loop.
_YIELD_EVERY = 64


class Gateway:
    """This node's WebSocket side; implements ``PushRouter`` for pushes addressed to it.

    It listens to identity's ended sessions and closes their sockets (4401 ``token_revoked``).
    """

    def __init__(
        self,
        *,
        node_id: str,
        identity: IdentityFacade,
        presence: PresenceFacade,
        timeline: TimelineFacade,
        session_events: SessionEvents,
        quota: ConnectionQuota,
        idle_timeout_s: float,
        max_pending_bytes: int,
        max_frames_per_second: float,
        frame_burst: int,
        metrics: Metrics | None = None,
        typing: TypingRelay | None = None,
        presence_subscriptions: PresenceSubscriptions | None = None,
    ):
        self._typing_relay = typing
        self._subscriptions = presence_subscriptions
        self.node_id = node_id
        self._identity = identity
        self._presence = presence
        self._timeline = timeline
        self._quota = quota
        self._max_pending_bytes = max_pending_bytes
        self._frame_rate = max_frames_per_second
        self._frame_burst = frame_burst
        self._rate_limited = frames.encode(
            frames.ErrorFrame(
                code="rate_limited",
                message=f"more than {max_frames_per_second:g} frames per second (burst"
                f" {frame_burst}, gateway.max_frames_per_second): this frame was discarded;"
                " slow down, or the socket is closed with 4429",
            )
        )
        self.registry = ConnectionRegistry()
        self._detached: set[DetachedReads] = set()
        self._none_detached: asyncio.Event | None = None
        self._deadlines = DeadlineSweeper(self.registry, idle_timeout_s=idle_timeout_s)
        self._accepting = True
        presence.on_displaced(node_id, self.displaced)
        session_events.subscribe(self.end_session)
        self._metrics = metrics
        if metrics is not None:
            metrics.watch_connections(lambda: len(self.registry))

    async def serve(self, socket: WebSocket[Any, Any, Any]) -> None:
        """Run one connection from the upgrade request to the close."""
        token = access_token(socket)
        if not self._accepting:
            await socket.accept()
            await socket.close(frames.CLOSE_GOING_AWAY, "server shutting down")
            return
        try:
            principal = await self._authenticate(socket, token)
            if principal is None or token is None:
                return
            slot = ConnectionSlot(
                user_id=principal.user_id, device_id=principal.device_id, ip=client_ip(socket)
            )
            refusal = await self._quota.acquire(slot)
        except Unavailable as exc:
            # Sessions or connection caps live in an engine that is down (Redis, the
            # database): the client is told to come back, like any request needing it.
            log.warning("websocket refused: an engine is down", extra={"reason": exc.detail})
            await refuse_unavailable(socket, exc.message, exc.retry_after_s)
            return
        if refusal is not None:
            log.info("websocket refused", extra={"user_id": slot.user_id, "limit": refusal.limit})
            await refuse_too_many(socket, refusal.message)
            return
        detached = False
        try:
            await socket.accept()
            detached = await self._run(socket, principal, token, slot)
        finally:
            if not detached:
                await self._quota.release(slot)

    async def _authenticate(
        self, socket: WebSocket[Any, Any, Any], token: str | None
    ) -> Principal | None:
        reason = "missing access token: pass ?token= or an Authorization header"
        if token:
            try:
                return await self._identity.authenticate(token)
            except Unauthenticated as exc:
                reason = exc.code
        await socket.accept()
        await socket.close(frames.CLOSE_UNAUTHENTICATED, reason)
        return None

    async def _run(
        self,
        socket: WebSocket[Any, Any, Any],
        principal: Principal,
        token: str,
        slot: ConnectionSlot,
    ) -> bool:
        """Open the connection and read it; True if detached (it is read and ended later)."""
        connection = Connection(
            socket, principal, node_id=self.node_id, max_pending_bytes=self._max_pending_bytes
        )
        presence = DeviceConnection(
            user_id=principal.user_id,
            device_id=principal.device_id,
            client_type=principal.client_type,
            node_id=self.node_id,
            connection_id=connection.id,
        )
        self._replace(connection)
        self._deadlines.ensure_running()
        detached = False
        try:
            # Checked again now that the socket is registered: a session that ended before
            # this point is refused here, one that ends after it finds the socket.
            try:
                await self._identity.authenticate(token)
                await self._presence.connected(presence)
                latest = await self._timeline.latest_seq(principal.user_id)
            except Unauthenticated as exc:
                connection.close_soon(frames.CLOSE_UNAUTHENTICATED, exc.code)
                return False
            except Unavailable as exc:
                log.warning("websocket closed: an engine is down", extra={"reason": exc.detail})
                connection.close_soon(frames.CLOSE_TRY_AGAIN_LATER, "unavailable")
                return False
            hello = frames.Hello(
                user_id=principal.user_id,
                device_id=principal.device_id,
                node_id=self.node_id,
                latest_user_seq=latest,
            )
            connection.open(frames.encode(hello))
            connection.expire_at(principal.expires_at)
            extensions: dict[str, Any] = socket.scope.get("extensions") or {}
            detach: Detach | None = extensions.get(DETACH)
            if detach is None:
                await self._read_loop(socket, connection)
                return False
            self._detach(detach, connection, presence, slot)
            detached = True
            return True
        finally:
            if not detached:
                await self._end(connection, presence)

    def _detach(
        self,
        detach: Detach,
        connection: Connection,
        presence: DeviceConnection,
        slot: ConnectionSlot,
    ) -> None:
        """Let the app's task return; the socket is read by :class:`DetachedReads` from now."""
        budget = self._budget()

        async def end() -> None:
            try:
                await self._end(connection, presence)
                await self._quota.release(slot)
            finally:
                self._detached.discard(reads)
                if not self._detached and self._none_detached is not None:
                    self._none_detached.set()

        reads = DetachedReads(lambda message: self._take(connection, budget, message), end)
        self._detached.add(reads)
        socket = detach(reads.on_input)
        connection.send_events_with(socket.send)
        reads.attach(socket)

    async def _end(self, connection: Connection, presence: DeviceConnection) -> None:
        """The socket is done: unregister it, say goodbye if it still can hear, forget it."""
        if self._subscriptions is not None:
            self._subscriptions.drop(connection)
        if self.registry.remove(connection):
            await self._forget(presence)
        connection.close_soon(frames.CLOSE_NORMAL, "bye")
        await connection.wait_closed(1.0)
        connection.cancel()

    async def _forget(self, presence: DeviceConnection) -> None:
        try:
            await self._presence.disconnected(presence)
        except Unavailable as exc:
            # The node's lease lapses, or the presence restore after the outage drops it.
            log.warning("presence entry left behind", extra={"reason": exc.detail})

    def _replace(self, connection: Connection) -> None:
        previous = self.registry.add(connection)
        if previous is not None:
            _kick_replaced(previous)

    async def displaced(self, event: ConnectionDisplaced) -> None:
        """Close a socket whose device connected again on another node (presence told us)."""
        old = event.connection
        connection = self.registry.get(old.user_id, old.device_id)
        if connection is not None and connection.id == old.connection_id:
            _kick_replaced(connection)
            log.info(
                "websocket replaced from another node",
                extra={"user_id": old.user_id, "device_id": old.device_id, "by": event.by.node_id},
            )

    async def end_session(self, event: SessionEnded) -> None:
        """Close the socket of a session that ended (a ``SessionEvents`` subscriber)."""
        connection = self.registry.get(event.user_id, event.device_id)
        if connection is None or connection.principal.session_id != event.session_id:
            return
        kick = frames.encode(frames.Kick(reason=f"session ended ({event.reason}); log in again"))
        connection.close_soon(frames.CLOSE_UNAUTHENTICATED, "token_revoked", after=kick)
        log.info(
            "websocket of an ended session closed",
            extra={"user_id": event.user_id, "device_id": event.device_id, "why": event.reason},
        )

    def _budget(self) -> FrameBudget:
        return FrameBudget(self._frame_rate, self._frame_burst, asyncio.get_running_loop().time())

    async def _read_loop(self, socket: WebSocket[Any, Any, Any], connection: Connection) -> None:
        """Read in the app's task, for servers that cannot detach a socket."""
        receive = socket.receive
        budget = self._budget()
        while await self._take(connection, budget, await receive()):
            pass

    async def _take(self, connection: Connection, budget: FrameBudget, message: Any) -> bool:
        """Handle one event read from the socket; False once the socket is done.

        No timeout on reads: the deadline sweep closes a socket idle for too long (4408), and
        the close ends the reads with the peer's answer, or the protocol's abort without one.
        """
        if connection.closing or message["type"] == "websocket.disconnect":
            return False
        now = asyncio.get_running_loop().time()
        connection.last_read_s = now
        connection.frames_read += 1
        if connection.frames_read % _YIELD_EVERY == 0:
            # Frames already parsed come without a suspension; let other sockets run.
            await asyncio.sleep(0)
        verdict = budget.take(now)
        if verdict is Verdict.REFUSE:
            connection.send(self._rate_limited)
            return True
        if verdict is Verdict.CLOSE:
            log.info("websocket flood closed", extra={"user_id": connection.user_id})
            kick = frames.encode(frames.Kick(reason="too many frames"))
            connection.close_soon(frames.CLOSE_TOO_MANY, "too many frames", after=kick)
            return False
        text: str | None = message.get("text")
        blob: bytes | None = message.get("bytes")
        await self._handle(connection, text if text is not None else blob or b"")
        return True

    async def _handle(self, connection: Connection, data: str | bytes) -> None:
        try:
            frame = frames.decode_client(data)
        except frames.BadFrame as exc:
            connection.send(frames.encode(frames.ErrorFrame(code="bad_frame", message=str(exc))))
            return
        if isinstance(frame, frames.Ping):
            connection.send(frames.PONG)
        elif isinstance(frame, frames.Ack):
            connection.acked_user_seq = max(connection.acked_user_seq, frame.user_seq)
        elif isinstance(frame, frames.Typing):
            await self._typing(connection, frame.conversation_id)
        elif isinstance(frame, frames.SubscribePresence):
            await self._subscribe_presence(connection, frame.user_ids)
        else:
            await self._reauth(connection, frame.access_token)

    async def _typing(self, connection: Connection, conversation_id: str) -> None:
        """Relay a typing frame; a refusal is an ``error`` frame, the socket stays open."""
        if self._typing_relay is None:
            error = frames.ErrorFrame(code="not_supported", message="typing is not relayed here")
            connection.send(frames.encode(error))
            return
        try:
            await self._typing_relay.relay(connection.user_id, conversation_id)
        except AppError as exc:
            error = frames.ErrorFrame(code=exc.code, message=f"typing not relayed: {exc.message}")
            connection.send(frames.encode(error))
        except Exception:
            # Best effort: a typing indicator is not worth a dead connection.
            log.warning("typing not relayed", exc_info=True)
            error = frames.ErrorFrame(code="unavailable", message="typing not relayed; try later")
            connection.send(frames.encode(error))

    async def _subscribe_presence(self, connection: Connection, user_ids: list[int]) -> None:
        """Replace the socket's presence subscription; a refusal is an ``error`` frame."""
        if self._subscriptions is None:
            error = frames.ErrorFrame(code="not_supported", message="presence is not pushed here")
            connection.send(frames.encode(error))
            return
        try:
            refusal = await self._subscriptions.subscribe(connection, user_ids)
        except AppError as exc:
            refusal = frames.encode(
                frames.ErrorFrame(code=exc.code, message=f"not subscribed: {exc.message}")
            )
        except Exception:
            # The earlier subscription stays; a failed lookup is not worth a dead connection.
            log.warning("presence subscription not changed", exc_info=True)
            refusal = frames.encode(
                frames.ErrorFrame(code="unavailable", message="not subscribed; try later")
            )
        if refusal is not None:
            connection.send(refusal)

    async def _reauth(self, connection: Connection, token: str) -> None:
        """Move the socket onto a fresh token of the same user and device; else change nothing."""
        try:
            principal = await self._identity.authenticate(token)
        except Unauthenticated as exc:
            error = frames.ErrorFrame(code=exc.code, message=f"reauth refused: {exc.message}")
            connection.send(frames.encode(error))
            return
        if (principal.user_id, principal.device_id) != (connection.user_id, connection.device_id):
            error = frames.ErrorFrame(
                code="token_mismatch",
                message="reauth refused: the token is another user's or device's; send one"
                " issued to this socket's user and device",
            )
            connection.send(frames.encode(error))
            return
        if connection.closing:
            return
        connection.principal = principal
        connection.expire_at(principal.expires_at)
        expires_at = principal.expires_at or 0
        connection.send(frames.encode(frames.Reauthed(access_expires_at=expires_at)))

    async def route(self, batch: PushBatch) -> None:
        """Deliver a batch to the sockets on this node; absent devices are skipped.

        Each socket's frames of the whole batch are written together (one system call when
        the socket keeps up), in push order.
        """
        registry = self.registry
        outgoing: dict[Connection, list[str]] = {}
        for push in batch.pushes:
            payload = bytes(push.payload).decode()
            cached: dict[int | None, str] = {}
            for target in push.targets:
                connection = registry.get(target.user_id, target.device_id)
                if connection is None:
                    continue
                frame = cached.get(target.user_seq)
                if frame is None:
                    frame = frames.push_frame(push.kind, payload, target.user_seq)
                    cached[target.user_seq] = frame
                queued = outgoing.get(connection)
                if queued is None:
                    outgoing[connection] = [frame]
                else:
                    queued.append(frame)
        if self._metrics is not None:
            self._metrics.pushes_delivered(sum(len(q) for q in outgoing.values()))
        for index, (connection, queued) in enumerate(outgoing.items(), start=1):
            connection.send_many(queued)
            if index % _YIELD_EVERY == 0:
                # Let reads and writers run: a large batch must not stall the loop.
                await asyncio.sleep(0)

    async def close_all(self, code: int, reason: str, grace_s: float) -> int:
        """Stop accepting and close every socket with ``code``; return how many were open."""
        self._accepting = False
        connections = list(self.registry)
        for connection in connections:
            connection.close_soon(code, reason)
        await asyncio.gather(*(c.wait_closed(grace_s) for c in connections))
        if self._detached:
            # Detached sockets end in their own reader tasks, which nothing else waits for.
            self._none_detached = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._none_detached.wait(), grace_s)
        await self._deadlines.stop()
        return len(connections)


def _kick_replaced(connection: Connection) -> None:
    kick = frames.encode(frames.Kick(reason="replaced by a new connection of this device"))
    connection.close_soon(frames.CLOSE_REPLACED, "replaced", after=kick)
