"""Contract of the gateway's ``ConnectionQuota``: in process, and in Redis across nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from gomicroim.config import RedisSettings
from gomicroim.gateway.ports import ConnectionQuota, ConnectionSlot
from gomicroim.gateway.quota import MemoryConnectionQuota, RedisConnectionQuota
from gomicroim.infra.redis import RedisEngine
from tests.conftest import RedisEngines

#: Nothing listens on port 1 of loopback: a Redis that is down, refusing at once.
DOWN_URL = "redis://127.0.0.1:1/0"

#: Builds the quota of one gateway node; every node built by one factory shares the counts.
Nodes = Callable[..., ConnectionQuota]


def slot(user: int, device: str, ip: str = "10.0.0.1") -> ConnectionSlot:
    return ConnectionSlot(user_id=user, device_id=device, ip=ip)


@pytest.fixture
async def redis_nodes(redis_engines: RedisEngines) -> AsyncIterator[Nodes]:
    built: list[ConnectionQuota] = []

    def redis_node(lease_s: float = 30.0) -> ConnectionQuota:
        engine = RedisEngine(redis_engines.settings())  # a node of its own, same keys
        quota = RedisConnectionQuota(
            engine.client,
            key_prefix=engine.prefix,
            per_user=2,
            per_ip=3,
            lease_s=lease_s,
        )
        built.append(quota)
        return quota

    yield redis_node
    for quota in built:
        await quota.close()


@pytest.fixture(params=["memory", "redis"])
def nodes(request: pytest.FixtureRequest) -> Nodes:
    if request.param == "redis":
        return request.getfixturevalue("redis_nodes")  # type: ignore[no-any-return]
    shared = MemoryConnectionQuota(per_user=2, per_ip=3)
    return lambda **_: shared  # one process is the only node


async def test_devices_per_user_and_sockets_per_address_are_capped(nodes: Nodes) -> None:
    quota = nodes()

    assert await quota.acquire(slot(1, "a")) is None
    assert await quota.acquire(slot(1, "b")) is None
    refused = await quota.acquire(slot(1, "c", "10.0.0.2"))
    assert refused is not None
    assert refused.limit == "gateway.max_connections_per_user"
    assert "2 devices" in refused.message
    assert await quota.acquire(slot(1, "b")) is None  # b reconnecting: 3 from this address
    refused = await quota.acquire(slot(2, "x"))
    assert refused is not None
    assert refused.limit == "gateway.max_connections_per_ip"
    await quota.release(slot(1, "a"))
    assert await quota.acquire(slot(2, "x")) is None
    assert await quota.acquire(slot(1, "c", "10.0.0.2")) is None


async def test_the_caps_hold_across_nodes(nodes: Nodes) -> None:
    first, second = nodes(), nodes()
    assert await first.acquire(slot(1, "a")) is None
    assert await first.acquire(slot(1, "b")) is None

    refused = await second.acquire(slot(1, "c"))

    assert refused is not None
    assert refused.limit == "gateway.max_connections_per_user"
    await first.release(slot(1, "b"))
    assert await second.acquire(slot(1, "c")) is None


async def test_the_sockets_of_a_node_that_died_stop_counting_after_its_lease(
    redis_nodes: Nodes,
) -> None:
    # Redis only: in process the counts die with the only node that holds them.
    dying, survivor = redis_nodes(lease_s=1.0), redis_nodes(lease_s=1.0)
    for device in ("a", "b"):
        assert await dying.acquire(slot(1, device)) is None
    await dying.close()  # the node is gone: no release, no more renewals

    assert await survivor.acquire(slot(1, "c")) is not None  # still counted within the lease
    await asyncio.sleep(1.3)

    assert await survivor.acquire(slot(1, "c")) is None


async def test_a_live_node_keeps_its_sockets_counted_past_the_lease(redis_nodes: Nodes) -> None:
    live, other = redis_nodes(lease_s=0.6), redis_nodes(lease_s=0.6)
    for device in ("a", "b"):
        assert await live.acquire(slot(1, device)) is None

    await asyncio.sleep(1.5)  # several leases: renewals keep them

    assert await other.acquire(slot(1, "c")) is not None


async def test_with_redis_down_sockets_are_let_in_rather_than_refused() -> None:
    quota = RedisConnectionQuota(
        RedisEngine(RedisSettings(url=DOWN_URL)).client,
        key_prefix="x:",
        per_user=1,
        per_ip=1,
        lease_s=30,
    )
    try:
        assert await quota.acquire(slot(1, "a")) is None
        assert await quota.acquire(slot(1, "b")) is None  # no cap can be checked: let in
        await quota.release(slot(1, "a"))
        await quota.release(slot(1, "b"))
    finally:
        await quota.close()
