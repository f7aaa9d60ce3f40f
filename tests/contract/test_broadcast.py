"""Contract of the cluster-wide broadcast (``LocalBroadcast`` in process, ``RedisBroadcast``).

Two "processes" subscribe to one topic; on Redis each has its own engine, as replicas do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest

from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.redis import RedisEngine
from gomicroim.infra.redis_broadcast import RedisBroadcast
from gomicroim.modules.groups.ports import MembersChanged
from tests.conftest import RedisEngines
from tests.redis_support import unique_prefix


class Pair(msgspec.Struct):
    here: Any
    there: Any
    engines: list[RedisEngine]


@pytest.fixture(params=["memory", "redis"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async for made in _pair(request, request.param):
        yield made


@pytest.fixture
async def redis_pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async for made in _pair(request, "redis"):
        yield made


async def _pair(request: pytest.FixtureRequest, kind: str) -> AsyncIterator[Pair]:
    if kind == "memory":
        shared: LocalBroadcast[MembersChanged] = LocalBroadcast("groups.members")
        yield Pair(here=shared, there=shared, engines=[])
        return
    engines = RedisEngines(request.getfixturevalue("redis_url"), unique_prefix())
    try:
        started = [await engines.start(), await engines.start()]
        here, there = (RedisBroadcast(e, "groups.members", MembersChanged) for e in started)
        for engine in started:
            await engine.subscribed()
        yield Pair(here=here, there=there, engines=started)
    finally:
        await engines.stop_all()


class Seen(list[MembersChanged]):
    """Events a subscriber got; ``arrived(n)`` waits for the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    async def arrived(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self) < count:
                self.changed.clear()
                await self.changed.wait()


def recorder() -> tuple[Seen, Callable[[MembersChanged], Awaitable[None]]]:
    seen = Seen()

    async def handler(event: MembersChanged) -> None:
        seen.append(event)
        seen.changed.set()

    return seen, handler


async def test_every_subscriber_hears_every_event_in_order(pair: Pair) -> None:
    here_seen, here_handler = recorder()
    there_seen, there_handler = recorder()
    pair.here.subscribe(here_handler)
    pair.there.subscribe(there_handler)

    for group_id in range(1, 6):
        await pair.here.publish(MembersChanged(group_id=group_id))
    await there_seen.arrived(5)
    await asyncio.sleep(0.1)

    expected = [MembersChanged(group_id=g) for g in range(1, 6)]
    assert here_seen == expected
    assert there_seen == expected, "each event once, in publish order"


async def test_the_publishers_own_subscribers_ran_before_publish_returned(pair: Pair) -> None:
    seen, handler = recorder()
    pair.here.subscribe(handler)

    await pair.here.publish(MembersChanged(group_id=7))

    assert seen == [MembersChanged(group_id=7)]


async def test_a_failing_subscriber_does_not_keep_the_event_from_the_others(pair: Pair) -> None:
    seen, handler = recorder()

    async def broken(_: MembersChanged) -> None:
        raise RuntimeError("a bug in one subscriber")

    pair.there.subscribe(broken)
    pair.there.subscribe(handler)

    await pair.here.publish(MembersChanged(group_id=1))
    await seen.arrived(1)

    assert seen == [MembersChanged(group_id=1)]


async def test_a_garbled_message_on_the_redis_channel_is_dropped(redis_pair: Pair) -> None:
    pair = redis_pair
    seen, handler = recorder()
    pair.there.subscribe(handler)
    channel = pair.engines[0].key("bc", "groups.members")

    await pair.engines[0].publish(channel, b"not json")
    await pair.engines[0].publish(channel, b'{"origin":"x","event":{"group_id":"seven"}}')
    await pair.here.publish(MembersChanged(group_id=8))
    await seen.arrived(1)

    assert seen == [MembersChanged(group_id=8)]
