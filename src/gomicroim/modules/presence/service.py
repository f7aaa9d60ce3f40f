"""PresenceService: implements :class:`PresenceFacade` over a store with node leases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Iterable

from gomicroim.clock import Clock, now_ms
from gomicroim.config import ConfigError
from gomicroim.errors import Unavailable
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.tasks import stop_tasks
from gomicroim.modules.presence.contract import (
    ChangedHandler,
    ConnectionDisplaced,
    DeviceConnection,
    DisplacedHandler,
    PresenceChanged,
    PresenceRead,
)
from gomicroim.modules.presence.ports import (
    ChangeEvents,
    DisplacedEvents,
    PresenceEntry,
    PresenceStore,
)

log = logging.getLogger("gomicroim.presence")

#: How often a node writes its live entries again, well within the store's expiry of them.
_REWRITE_EVERY_S = 600.0


class PresenceService:
    """Presence for one process: the gateways it runs, and readers (the fan-out worker).

    Each gateway node holds a lease in the store, renewed every third of ``lease_ms`` (one
    store call per node per renewal, however many sockets it holds). Every entry names the
    process that wrote it; it counts only while that process holds its node's lease, so a
    node that dies without cleaning up drops out within ``lease_ms``, and its leftovers are
    deleted by the next reader that comes across them.

    The service remembers the connections of the nodes it holds, so that when the store lost
    them (a Redis restart or flush, reported through ``events.on_gap``, or a lease found
    free at renewal) it puts them back.

    A user's first live connection publishes :class:`PresenceChanged` online on ``changes``;
    the removal of their last one records the time as their last seen and publishes offline.
    A connection is "first" when the atomic put saw no other live entry of the user, so of two
    devices connecting at once exactly one announces. The cost on the connect path is the put
    itself, plus one lease read for a user with other devices, plus the publish of a change.
    """

    def __init__(
        self,
        *,
        store: PresenceStore,
        events: DisplacedEvents,
        lease_ms: int,
        holder: str | None = None,
        changes: ChangeEvents | None = None,
        clock: Clock = now_ms,
    ):
        self._store = store
        self._events = events
        self._changes: ChangeEvents = changes or LocalBroadcast("presence.changes")
        self._clock = clock
        self._lease_ms = lease_ms
        #: This process in the store; random unless a test names it.
        self.holder = holder or secrets.token_hex(8)
        self._handlers: dict[str, list[DisplacedHandler]] = {}
        #: node → (user, device) → the live connection this process holds there.
        self._held: dict[str, dict[tuple[int, str], DeviceConnection]] = {}
        events.subscribe(self._displaced)
        events.on_gap(self.restore)

    async def connected(self, connection: DeviceConnection) -> DeviceConnection | None:
        """Record a connection; see :meth:`PresenceFacade.connected`."""
        self._held.setdefault(connection.node_id, {})[_device(connection)] = connection
        placed = await self._store.put(PresenceEntry(connection=connection, holder=self.holder))
        previous = placed.previous
        earlier = [
            e for e in (previous, *placed.others) if e is not None and e.connection != connection
        ]
        live = await self._live_among(earlier)
        if not live:
            await self._announce(
                PresenceChanged(user_id=connection.user_id, online=True, last_seen_at=None)
            )
        if previous is None or previous not in live:
            return None
        displaced = previous.connection
        if displaced.node_id != connection.node_id:
            await self._events.publish(ConnectionDisplaced(connection=displaced, by=connection))
        return displaced

    async def disconnected(self, connection: DeviceConnection) -> None:
        """Forget a connection unless the device connected again; see the facade.

        The user's last live connection gone, their last seen time is recorded and an
        offline :class:`PresenceChanged` published.
        """
        held = self._held.get(connection.node_id, {})
        if held.get(_device(connection)) == connection:
            del held[_device(connection)]
        entry = PresenceEntry(connection=connection, holder=self.holder)
        if not await self._store.remove(entry):
            return
        remaining = await self._store.entries([connection.user_id])
        if await self._live_among(remaining.get(connection.user_id, [])):
            return
        at = self._clock()
        await self._store.set_last_seen(connection.user_id, at)
        await self._announce(
            PresenceChanged(user_id=connection.user_id, online=False, last_seen_at=at)
        )

    async def states(self, user_ids: Iterable[int]) -> dict[int, PresenceRead]:
        """Online state and last seen time; see :meth:`PresenceFacade.states`."""
        users = list(dict.fromkeys(user_ids))
        if not users:
            return {}
        online = await self.online(users)
        seen = await self._store.last_seen([u for u in users if u not in online])
        return {
            u: PresenceRead(user_id=u, online=u in online, last_seen_at=seen.get(u)) for u in users
        }

    def watch(self, handler: ChangedHandler) -> None:
        """Subscribe to every process's presence changes; see :meth:`PresenceFacade.watch`."""
        self._changes.subscribe(handler)

    async def _announce(self, change: PresenceChanged) -> None:
        try:
            await self._changes.publish(change)
        except Unavailable as exc:
            # This process's subscribers already have it; a missed push to other nodes is not
            # worth failing the connection over (clients can ask GET /api/v1/presence).
            log.warning("presence change not broadcast", extra={"error": exc.message})

    async def _live_among(self, entries: list[PresenceEntry]) -> list[PresenceEntry]:
        if not entries:
            return []
        holders = await self._store.holders({e.connection.node_id for e in entries})
        return [e for e in entries if holders.get(e.connection.node_id) == e.holder]

    async def online(self, user_ids: Iterable[int]) -> dict[int, list[DeviceConnection]]:
        """Live connections per user; see :meth:`PresenceFacade.online`."""
        stored = await self._store.entries(user_ids)
        if not stored:
            return {}
        holders = await self._store.holders(
            {e.connection.node_id for es in stored.values() for e in es}
        )
        out: dict[int, list[DeviceConnection]] = {}
        stale: list[PresenceEntry] = []
        for user_id, entries in stored.items():
            for entry in entries:
                if holders.get(entry.connection.node_id) == entry.holder:
                    out.setdefault(user_id, []).append(entry.connection)
                else:
                    stale.append(entry)
        for entry in stale:
            # Lazy cleanup of a dead node's leftovers; compare-and-delete, so a newer entry
            # of the same device is never touched.
            await self._store.remove(entry)
        return out

    def on_displaced(self, node_id: str, handler: DisplacedHandler) -> None:
        """Subscribe ``node_id``'s gateway to its displaced connections."""
        self._handlers.setdefault(node_id, []).append(handler)

    @contextlib.asynccontextmanager
    async def hold(self, node_id: str) -> AsyncIterator[None]:
        """Hold ``node_id``'s lease for the block; see :meth:`PresenceFacade.hold`."""
        claim = await self._store.claim(node_id, self.holder, self._lease_ms)
        if claim.state == "held":
            raise ConfigError(
                f"server.node_id {node_id!r} is in use: another live gateway holds its presence "
                f"lease for {claim.remaining_ms / 1000:.0f} s more; give this process another "
                "--node-id, or stop the other process (a crashed one's lease lapses by itself "
                "after redis.presence_lease_s)"
            )
        self._held.setdefault(node_id, {})
        renewing = asyncio.create_task(self._renew(node_id), name=f"presence-lease-{node_id}")
        log.info("presence lease held", extra={"node_id": node_id, "lease_ms": self._lease_ms})
        try:
            yield
        finally:
            await stop_tasks(renewing)
            await self._let_go(node_id)

    async def restore(self) -> None:
        """Put every held node's lease and live connections back into the store."""
        for node_id in list(self._held):
            claim = await self._store.claim(node_id, self.holder, self._lease_ms)
            if claim.state == "held":
                log.error(
                    "another process took this node's presence lease; its sockets are not "
                    "counted online until it stops",
                    extra={"node_id": node_id},
                )
                continue
            await self._restore_entries(node_id)

    async def _restore_entries(self, node_id: str) -> None:
        held = list(self._held.get(node_id, {}).values())
        await self._store.put_many(PresenceEntry(connection=c, holder=self.holder) for c in held)
        log.info("presence restored", extra={"node_id": node_id, "connections": len(held)})

    async def _renew(self, node_id: str) -> None:
        failing = False
        loop = asyncio.get_running_loop()
        rewritten = loop.time()
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                claim = await self._store.claim(node_id, self.holder, self._lease_ms)
                if claim.state == "taken" or loop.time() - rewritten > _REWRITE_EVERY_S:
                    # A lapsed lease (the store was unreachable, or lost it) may have lost
                    # our entries too; and stored entries expire unless written again.
                    await self._restore_entries(node_id)
                    rewritten = loop.time()
                elif claim.state == "held":
                    log.error(
                        "presence lease of this node is held by another process",
                        extra={"node_id": node_id},
                    )
                failing = False
            except Unavailable as exc:
                if not failing:
                    log.warning(
                        "presence lease not renewed",
                        extra={"node_id": node_id, "error": exc.message},
                    )
                failing = True

    async def _let_go(self, node_id: str) -> None:
        held = self._held.pop(node_id, {})
        try:
            for connection in held.values():
                await self._store.remove(PresenceEntry(connection=connection, holder=self.holder))
            await self._store.release(node_id, self.holder)
        except Unavailable as exc:
            # The lease lapses by itself; the entries stop counting then.
            log.warning(
                "presence lease not released", extra={"node_id": node_id, "error": exc.message}
            )

    async def _displaced(self, event: ConnectionDisplaced) -> None:
        for handler in self._handlers.get(event.connection.node_id, []):
            await handler(event)


def _device(connection: DeviceConnection) -> tuple[int, str]:
    return connection.user_id, connection.device_id
