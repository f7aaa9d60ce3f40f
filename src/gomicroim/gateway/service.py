"""Gateway: authenticates sockets, runs their read loops and delivers pushes to them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar.connection import WebSocket

from gomicroim.errors import Unauthenticated
from gomicroim.gateway import frames
from gomicroim.gateway.connection import Connection
from gomicroim.gateway.contract import PushBatch
from gomicroim.gateway.registry import ConnectionRegistry
from gomicroim.modules.identity.contract import IdentityFacade, Principal, bearer_token
from gomicroim.modules.presence.contract import (
    ConnectionDisplaced,
    DeviceConnection,
    PresenceFacade,
)
from gomicroim.modules.timeline.contract import TimelineFacade

log = logging.getLogger("gomicroim.gateway")

#: Sockets written per batch between yields to the event loop.
_YIELD_EVERY = 64


class Gateway:
    """This node's WebSocket side; implements ``PushRouter`` for pushes addressed to it."""

    def __init__(
        self,
        *,
        node_id: str,
        identity: IdentityFacade,
        presence: PresenceFacade,
        timeline: TimelineFacade,
        idle_timeout_s: float,
        max_pending_bytes: int,
    ):
        self.node_id = node_id
        self._identity = identity
        self._presence = presence
        self._timeline = timeline
        self._idle_timeout_s = idle_timeout_s
        self._max_pending_bytes = max_pending_bytes
        self.registry = ConnectionRegistry()
        self._accepting = True
        presence.on_displaced(node_id, self.displaced)

    async def serve(self, socket: WebSocket[Any, Any, Any]) -> None:
        """Run one connection from handshake to close."""
        await socket.accept()
        principal = await self._authenticate(socket)
        if principal is None:
            return
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
        try:
            await self._presence.connected(presence)
            latest = await self._timeline.latest_seq(principal.user_id)
            connection.send(
                frames.encode(
                    frames.Hello(
                        user_id=principal.user_id,
                        device_id=principal.device_id,
                        node_id=self.node_id,
                        latest_user_seq=latest,
                    )
                )
            )
            await self._read_loop(socket, connection)
        finally:
            if self.registry.remove(connection):
                await self._presence.disconnected(presence)
            connection.close_soon(1000, "bye")
            await connection.wait_closed(1.0)
            connection.cancel()

    async def _authenticate(self, socket: WebSocket[Any, Any, Any]) -> Principal | None:
        token = socket.query_params.get("token") or bearer_token(
            socket.headers.get("authorization")
        )
        reason = "missing access token: pass ?token= or an Authorization header"
        if token and self._accepting:
            try:
                return await self._identity.authenticate(token)
            except Unauthenticated as exc:
                reason = exc.code
        elif not self._accepting:
            await socket.close(frames.CLOSE_GOING_AWAY, "server shutting down")
            return None
        await socket.close(frames.CLOSE_UNAUTHENTICATED, reason)
        return None

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

    async def _read_loop(self, socket: WebSocket[Any, Any, Any], connection: Connection) -> None:
        receive = socket.receive
        while not connection.closing:
            try:
                # asyncio.timeout, not wait_for: no extra task per idle socket.
                async with asyncio.timeout(self._idle_timeout_s):
                    message = await receive()
            except TimeoutError:
                kick = frames.encode(frames.Kick(reason="idle timeout"))
                connection.close_soon(frames.CLOSE_IDLE, "idle timeout", after=kick)
                return
            if message["type"] == "websocket.disconnect":
                return
            text: str | None = message.get("text")  # type: ignore[assignment]
            blob: bytes | None = message.get("bytes")  # type: ignore[assignment]
            self._handle(connection, text if text is not None else blob or b"")

    def _handle(self, connection: Connection, data: str | bytes) -> None:
        try:
            frame = frames.decode_client(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            error = frames.ErrorFrame(
                code="bad_frame",
                message=f'{exc}; expected {{"type":"ping"}} or {{"type":"ack","user_seq":N}}',
            )
            connection.send(frames.encode(error))
            return
        if isinstance(frame, frames.Ping):
            connection.send(frames.PONG)
        else:
            connection.acked_user_seq = max(connection.acked_user_seq, frame.user_seq)

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
        return len(connections)


def _kick_replaced(connection: Connection) -> None:
    kick = frames.encode(frames.Kick(reason="replaced by a new connection of this device"))
    connection.close_soon(frames.CLOSE_REPLACED, "replaced", after=kick)
