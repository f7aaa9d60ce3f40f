"""Contract of presence (``PresenceService`` over each ``PresenceStore``): memory and Redis.

Each test runs one or more "processes": presence services with their own holder id. On Redis
each has its own engine (connections, pub/sub, instance id) on the test's key prefix, as the
processes of a cluster have; in memory they share one store and one broadcast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest

from gomicroim.config import ConfigError
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.redis_broadcast import RedisBroadcast
from gomicroim.modules.presence.contract import ConnectionDisplaced, DeviceConnection
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
                store=self.memory_store, events=self.memory_events, lease_ms=lease_ms
            )
        engine = await self.engines.start()
        events = RedisBroadcast(engine, "presence.displaced", ConnectionDisplaced)
        service = PresenceService(
            store=RedisPresenceStore(engine), events=events, lease_ms=lease_ms
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
