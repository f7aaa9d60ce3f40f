"""Contract of presence (``PresenceService`` over each ``PresenceStore``): memory and Redis.

Each test runs one or more "processes": presence services with their own holder id. On Redis
each has its own engine (connections, pub/sub, instance id) on the test's key prefix, as the
processes of a cluster have; in memory they share one store and one broadcast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest

from gomicroim.clock import now_ms
from gomicroim.config import ConfigError
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.redis_broadcast import RedisBroadcast
from gomicroim.modules.presence.contract import (
    ConnectionDisplaced,
    DeviceConnection,
    PresenceChanged,
    PresenceRead,
)
from gomicroim.modules.presence.ports import PresenceEntry, PresenceStore
from gomicroim.modules.presence.service import PresenceService
from gomicroim.modules.presence.storage import MemoryPresenceStore, RedisPresenceStore
from tests.conftest import RedisEngines
from tests.redis_support import unique_prefix

LEASE_MS = 15_000


@dataclass
class Cluster:
    """Makes presence services that share one store, as a deployment's processes do."""

    backend: str
    engines: RedisEngines | None = None
    memory_store: MemoryPresenceStore = field(default_factory=MemoryPresenceStore)
    memory_events: LocalBroadcast[ConnectionDisplaced] = field(
        default_factory=lambda: LocalBroadcast("presence.displaced")
    )
    memory_changes: LocalBroadcast[PresenceChanged] = field(
        default_factory=lambda: LocalBroadcast("presence.changes")
    )
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def store(self) -> PresenceStore:
        """A store handle of a new process."""
        if self.engines is None:
            return self.memory_store
        return RedisPresenceStore(await self.engines.start())

    async def process(self, lease_ms: int = LEASE_MS) -> PresenceService:
        """A new process's presence."""
        if self.engines is None:
            return PresenceService(
                store=self.memory_store,
                events=self.memory_events,
                lease_ms=lease_ms,
                changes=self.memory_changes,
            )
        engine = await self.engines.start()
        events = RedisBroadcast(engine, "presence.displaced", ConnectionDisplaced)
        changes = RedisBroadcast(engine, "presence.changes", PresenceChanged)
        service = PresenceService(
            store=RedisPresenceStore(engine), events=events, lease_ms=lease_ms, changes=changes
        )
        # The broadcast subscribed after the engine started: let the subscriber catch up.
        await engine.subscribed()
        return service

    async def holding(self, node_id: str, lease_ms: int = LEASE_MS) -> PresenceService:
        """A new process that holds ``node_id`` until the test ends."""
        service = await self.process(lease_ms)
        await self.stack.enter_async_context(service.hold(node_id))
        return service


@pytest.fixture(params=["memory", "redis"])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    engines = None
    if request.param == "redis":
        engines = RedisEngines(request.getfixturevalue("redis_url"), unique_prefix())
    made = Cluster(request.param, engines)
    try:
        async with made.stack:
            yield made
    finally:
        if engines is not None:
            await engines.stop_all()


def conn(user: int, device: str, node: str, n: int = 1) -> DeviceConnection:
    return DeviceConnection(
        user_id=user, device_id=device, client_type="app", node_id=node, connection_id=f"{node}:{n}"
    )


async def test_a_connection_is_online_until_it_disconnects(cluster: Cluster) -> None:
    presence = await cluster.holding("n1")
    phone = conn(1, "phone", "n1")

    await presence.connected(phone)
    online = await presence.online([1, 2])
    await presence.disconnected(phone)

    assert online == {1: [phone]}
    assert await presence.online([1]) == {}


async def test_a_stale_disconnect_leaves_the_newer_connection(cluster: Cluster) -> None:
    presence = await cluster.holding("n1")
    old, new = conn(1, "phone", "n1", 1), conn(1, "phone", "n1", 2)

    await presence.connected(old)
    replaced = await presence.connected(new)
    await presence.disconnected(old)

    assert replaced == old
    assert await presence.online([1]) == {1: [new]}


async def test_every_device_of_a_user_counts(cluster: Cluster) -> None:
    a = await cluster.holding("n1")
    b = await cluster.holding("n2")
    phone, laptop = conn(1, "phone", "n1"), conn(1, "laptop", "n2")

    await a.connected(phone)
    await b.connected(laptop)

    online = await a.online([1])
    assert sorted(online[1], key=lambda c: c.device_id) == [laptop, phone]


async def test_a_dead_nodes_connections_stop_counting_when_its_lease_lapses(
    cluster: Cluster,
) -> None:
    reader = await cluster.process()
    store = await cluster.store()
    # A node that claimed a short lease, wrote an entry and died without cleaning up.
    phone = conn(1, "phone", "dead")
    await store.claim("dead", "dead-holder", 300)
    await store.put(PresenceEntry(connection=phone, holder="dead-holder"))
    before = await reader.online([1])

    await asyncio.sleep(0.5)
    after = await reader.online([1])

    assert before == {1: [phone]}
    assert after == {}
    # Cleaned up lazily by the reader that came across it.
    assert await store.entries([1]) == {}


async def test_a_node_restarted_under_its_id_does_not_revive_its_predecessors_entries(
    cluster: Cluster,
) -> None:
    store = await cluster.store()
    ghost = conn(1, "phone", "n1", 1)
    await store.put(PresenceEntry(connection=ghost, holder="crashed-process"))

    restarted = await cluster.holding("n1")

    assert await restarted.online([1]) == {}


async def test_a_node_id_held_by_a_live_process_cannot_be_held_again(cluster: Cluster) -> None:
    await cluster.holding("gw-1")
    second = await cluster.process()

    with pytest.raises(ConfigError) as refused:
        async with second.hold("gw-1"):
            pass

    assert "server.node_id 'gw-1' is in use" in str(refused.value)
    assert "--node-id" in str(refused.value)


async def test_leaving_removes_the_nodes_connections_and_frees_its_id(cluster: Cluster) -> None:
    first = await cluster.process()
    async with first.hold("gw-1"):
        await first.connected(conn(1, "phone", "gw-1"))
    second = await cluster.holding("gw-1")

    assert await second.online([1]) == {}


async def test_a_device_connecting_on_another_node_displaces_its_old_connection(
    cluster: Cluster,
) -> None:
    a = await cluster.holding("n1")
    b = await cluster.holding("n2")
    told: asyncio.Queue[ConnectionDisplaced] = asyncio.Queue()

    async def kick(event: ConnectionDisplaced) -> None:
        await told.put(event)

    a.on_displaced("n1", kick)
    b.on_displaced("n2", kick)
    old, new = conn(1, "phone", "n1"), conn(1, "phone", "n2")
    await a.connected(old)

    displaced = await b.connected(new)
    event = await asyncio.wait_for(told.get(), 5)

    assert displaced == old
    assert event == ConnectionDisplaced(connection=old, by=new)
    assert await a.online([1]) == {1: [new]}
    await asyncio.sleep(0.2)
    assert told.empty(), "only the node that held the old connection is told"


async def test_a_connection_of_a_dead_node_is_not_reported_displaced(cluster: Cluster) -> None:
    store = await cluster.store()
    await store.put(PresenceEntry(connection=conn(1, "phone", "gone"), holder="crashed"))
    b = await cluster.holding("n2")

    assert await b.connected(conn(1, "phone", "n2")) is None


async def test_restore_puts_a_nodes_connections_back_after_the_store_lost_them(
    cluster: Cluster,
) -> None:
    presence = await cluster.holding("n1")
    phone, tablet = conn(1, "phone", "n1", 1), conn(2, "tablet", "n1", 2)
    await presence.connected(phone)
    await presence.connected(tablet)
    # The store loses everything (a Redis restart): lease and entries.
    store = await cluster.store()
    for entry in [*(await store.entries([1, 2])).values()]:
        for stored in entry:
            await store.remove(stored)
    await store.release("n1", presence.holder)
    lost = await presence.online([1, 2])

    await presence.restore()

    assert lost == {}
    assert await presence.online([1, 2]) == {1: [phone], 2: [tablet]}


async def test_restore_keeps_a_newer_connection_of_the_device_made_elsewhere(
    cluster: Cluster,
) -> None:
    a = await cluster.holding("n1")
    b = await cluster.holding("n2")
    await a.connected(conn(1, "phone", "n1"))
    newer = conn(1, "phone", "n2")
    await b.connected(newer)

    await a.restore()

    assert await a.online([1]) == {1: [newer]}


async def test_a_lease_renewed_in_time_keeps_the_node_online(cluster: Cluster) -> None:
    presence = await cluster.holding("n1", lease_ms=1200)
    await presence.connected(conn(1, "phone", "n1"))

    await asyncio.sleep(2.0)

    assert list(await presence.online([1])) == [1]


def recorder(presence: PresenceService) -> list[PresenceChanged]:
    """The presence changes ``presence``'s process hears, in order."""
    heard: list[PresenceChanged] = []

    async def record(change: PresenceChanged) -> None:
        heard.append(change)

    presence.watch(record)
    return heard


async def eventually(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_users_first_device_announces_online_and_the_last_one_offline_everywhere(
    cluster: Cluster,
) -> None:
    a = await cluster.holding("n1")
    b = await cluster.holding("n2")
    far = recorder(b)
    phone, laptop = conn(1, "phone", "n1"), conn(1, "laptop", "n2")

    await a.connected(phone)
    await b.connected(laptop)
    await a.disconnected(phone)
    before = now_ms()
    await b.disconnected(laptop)
    after = now_ms()

    await eventually(lambda: len(far) >= 2)
    assert far[0] == PresenceChanged(user_id=1, online=True, last_seen_at=None)
    assert far[1].user_id == 1
    assert not far[1].online
    assert far[1].last_seen_at is not None
    assert before <= far[1].last_seen_at <= after
    await asyncio.sleep(0.1)
    assert len(far) == 2  # the second device and the first one's leaving changed nothing


async def test_last_seen_is_kept_across_processes_and_cleared_while_online(
    cluster: Cluster,
) -> None:
    a = await cluster.holding("n1")
    reader = await cluster.process()
    phone = conn(1, "phone", "n1")

    never = await reader.states([1])
    await a.connected(phone)
    online = await reader.states([1])
    await a.disconnected(phone)
    offline = await reader.states([1, 1])

    assert never == {1: PresenceRead(user_id=1, online=False, last_seen_at=None)}
    assert online == {1: PresenceRead(user_id=1, online=True, last_seen_at=None)}
    assert offline[1].online is False
    assert offline[1].last_seen_at is not None
    assert offline[1].last_seen_at <= now_ms()


async def test_a_stale_disconnect_announces_nothing(cluster: Cluster) -> None:
    presence = await cluster.holding("n1")
    heard = recorder(presence)
    old, new = conn(1, "phone", "n1", 1), conn(1, "phone", "n1", 2)

    await presence.connected(old)
    await presence.connected(new)
    await presence.disconnected(old)

    assert heard == [PresenceChanged(user_id=1, online=True, last_seen_at=None)]
    assert (await presence.states([1]))[1].online


async def test_a_dead_nodes_leftover_does_not_hide_a_fresh_online(cluster: Cluster) -> None:
    store = await cluster.store()
    await store.claim("dead", "dead-holder", 200)
    await store.put(PresenceEntry(connection=conn(1, "tablet", "dead"), holder="dead-holder"))
    await asyncio.sleep(0.3)
    presence = await cluster.holding("n1")
    heard = recorder(presence)

    await presence.connected(conn(1, "phone", "n1"))

    assert heard == [PresenceChanged(user_id=1, online=True, last_seen_at=None)]


async def test_the_store_reports_the_other_devices_and_keeps_last_seen(cluster: Cluster) -> None:
    store = await cluster.store()
    phone = PresenceEntry(connection=conn(1, "phone", "n1"), holder="h")
    laptop = PresenceEntry(connection=conn(1, "laptop", "n1"), holder="h")
    again = PresenceEntry(connection=conn(1, "phone", "n1", 2), holder="h")

    first = await store.put(phone)
    second = await store.put(laptop)
    third = await store.put(again)
    await store.set_last_seen(1, 1_700_000_000_000)
    await store.set_last_seen(2, 5)
    await store.set_last_seen(2, 6)

    assert (first.previous, first.others) == (None, [])
    assert (second.previous, second.others) == (None, [phone])
    assert (third.previous, third.others) == (phone, [laptop])
    assert await store.last_seen([1, 2, 3]) == {1: 1_700_000_000_000, 2: 6}
    assert await store.last_seen([]) == {}
