"""The committed-message and read topics on tansu: keys, acknowledgements, groups, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest

from gomicroim.config import KafkaSettings
from gomicroim.errors import Unavailable
from gomicroim.infra.kafka.consumer import DeadLetters, KafkaEventSource
from gomicroim.infra.kafka.engine import KafkaEngine
from gomicroim.infra.kafka.publisher import KafkaCommittedPublisher, KafkaReadPublisher
from gomicroim.infra.kafka.wiring import retry_policy
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved
from tests.integration.conftest import eventually, kafka_settings
from tests.integration.kafka_helpers import committed, counter, engine_for, read_all, started
from tests.integration.tansu import Tansu

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

Handler = Callable[[list[MessageCommitted]], Awaitable[None]]


def source(engine: KafkaEngine, metrics: Metrics) -> KafkaEventSource[MessageCommitted]:
    policy = retry_policy(engine.settings)
    return KafkaEventSource(
        engine,
        topic=engine.topology.committed,
        event_type=MessageCommitted,
        group_id=engine.settings.consumer_group,
        policy=policy,
        dead_letters=DeadLetters(engine, policy, metrics),
        metrics=metrics,
    )


@contextlib.asynccontextmanager
async def consuming(
    events: KafkaEventSource[MessageCommitted], handler: Handler
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(events.consume(handler))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def settings(tansu: Tansu) -> KafkaSettings:
    return kafka_settings(tansu.bootstrap, committed_partitions=4, handle_attempts=3)


async def test_events_of_a_conversation_share_a_partition_and_arrive_in_seq_order(
    settings: KafkaSettings, tansu: Tansu
) -> None:
    sent = [committed(f"s:1:{peer}", seq) for seq in range(1, 6) for peer in (2, 3, 4)]
    metrics = Metrics()
    got: list[MessageCommitted] = []

    async def handle(events: list[MessageCommitted]) -> None:
        got.extend(events)

    engine = engine_for(settings)
    publisher = KafkaCommittedPublisher(engine, resend_window_s=60)

    async with started(engine):
        await publisher.publish(sent)
        records = await read_all(tansu.bootstrap, engine.topology.committed.name, 4)
        async with consuming(source(engine, metrics), handle):
            await eventually(lambda: _true(len(got) >= len(sent)), what="all events consumed")

    partitions: dict[str, set[int]] = {}
    for record in records:
        partitions.setdefault(record.key.decode(), set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions.values()), partitions
    for conversation in ("s:1:2", "s:1:3", "s:1:4"):
        seqs = [e.message.seq for e in got if e.message.conversation_id == conversation]
        assert seqs == [1, 2, 3, 4, 5]


async def test_a_worker_that_dies_before_committing_leaves_its_events_to_the_next(
    settings: KafkaSettings,
) -> None:
    metrics = Metrics()
    first: list[int] = []
    second: list[int] = []
    hang = asyncio.Event()

    async def handle_and_die(events: list[MessageCommitted]) -> None:
        first.extend(e.message.seq for e in events)
        await hang.wait()  # "crashes" here: cancelled before the offset is committed

    async def handle(events: list[MessageCommitted]) -> None:
        second.extend(e.message.seq for e in events)

    engine = engine_for(settings)
    publisher = KafkaCommittedPublisher(engine, resend_window_s=60)

    async with started(engine):
        await publisher.publish([committed("s:1:2", seq) for seq in (1, 2, 3)])
        async with consuming(source(engine, metrics), handle_and_die):
            await eventually(lambda: _true(len(first) == 3), what="the first worker's batch")
        async with consuming(source(engine, metrics), handle):
            await eventually(lambda: _true(len(second) == 3), what="the redelivery")
        # Committed now: a third worker of the group gets nothing again.
        third: list[int] = []

        async def record(events: list[MessageCommitted]) -> None:
            third.extend(e.message.seq for e in events)

        await publisher.publish([committed("s:1:2", 4)])
        async with consuming(source(engine, metrics), record):
            await eventually(lambda: _true(4 in third), what="the next event")

    assert first == [1, 2, 3]
    assert second == [1, 2, 3]
    assert third == [4]


async def test_poison_events_go_to_the_dead_letter_topic_and_the_partition_moves_on(
    settings: KafkaSettings, tansu: Tansu
) -> None:
    metrics = Metrics()
    handled: list[int] = []
    outages = {"left": 2}

    async def handle(events: list[MessageCommitted]) -> None:
        for event in events:
            if event.message.seq == 2:
                raise ValueError("this event always fails")
            if event.message.seq == 4 and outages["left"]:
                outages["left"] -= 1
                raise Unavailable("the database is down for a moment")
        handled.extend(e.message.seq for e in events)

    engine = engine_for(settings)
    publisher = KafkaCommittedPublisher(engine, resend_window_s=60)
    topic = engine.topology.committed.name

    async with started(engine):
        await publisher.publish([committed("s:1:2", 1), committed("s:1:2", 2)])
        await engine.producer().send_and_wait(topic, b"{not json", key=b"s:1:2")
        await publisher.publish([committed("s:1:2", 3), committed("s:1:2", 4)])
        async with consuming(source(engine, metrics), handle):
            await eventually(lambda: _true(4 in handled), what="the events after the poison")
        dead = await read_all(tansu.bootstrap, engine.topology.dead_letter.name)
        again: list[int] = []

        async def record(events: list[MessageCommitted]) -> None:
            again.extend(e.message.seq for e in events)

        await publisher.publish([committed("s:1:2", 5)])
        async with consuming(source(engine, metrics), record):
            await eventually(lambda: _true(5 in again), what="the event after the commit")

    reasons = [_headers(r)["gomicroim-reason"] for r in dead]
    assert len(dead) == 2
    assert b"{not json" in [r.value for r in dead]
    assert any(reason.startswith("cannot decode") for reason in reasons)
    assert any("handling failed 3 times: ValueError" in reason for reason in reasons)
    poison = next(r for r in dead if r.value != b"{not json")
    assert msgspec.json.decode(poison.value, type=MessageCommitted).message.seq == 2
    assert _headers(poison)["gomicroim-source-topic"] == topic
    assert set(handled) == {1, 3, 4}
    # Committed past the poison: the group never sees 1-4 again.
    assert again == [5]
    dead_letters = "gomicroim_bus_dead_letters_total"
    assert counter(metrics, dead_letters, topic=topic, reason="undecodable") == 1
    assert counter(metrics, dead_letters, topic=topic, reason="failing") == 1
    assert counter(metrics, "gomicroim_bus_retries_total", topic=topic) == 2


async def test_read_hints_travel_on_their_own_topic_keyed_by_conversation(
    settings: KafkaSettings, tansu: Tansu
) -> None:
    hint = ReadPositionMoved(
        conversation_id="s:1:2", user_id=1, device_id="phone", seq=7, peer_id=2
    )

    engine = engine_for(settings)
    publisher = KafkaReadPublisher(engine)

    async with started(engine):
        await publisher.publish([hint])
        topic = engine.topology.read.name

        async def arrived() -> bool:
            return bool(await read_all(tansu.bootstrap, topic, settings.read_partitions))

        await eventually(arrived, what="the read hint on its topic")
        records = await read_all(tansu.bootstrap, topic, settings.read_partitions)

    assert [r.key for r in records] == [b"s:1:2"]
    assert msgspec.json.decode(records[0].value, type=ReadPositionMoved) == hint


async def test_a_publish_to_a_broker_that_is_down_raises_unavailable_quickly(
    own_tansu: Tansu,
) -> None:
    settings = kafka_settings(own_tansu.bootstrap, request_timeout_ms=1500)

    engine = engine_for(settings)
    publisher = KafkaCommittedPublisher(engine, resend_window_s=60)

    async with started(engine):
        own_tansu.stop()
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(Unavailable) as down:
            await publisher.publish([committed("s:1:2", 1)])
        took = loop.time() - began

    assert "kafka.bootstrap_servers" in down.value.message
    assert took < 10


def _headers(record: Any) -> dict[str, str]:
    return {key: value.decode() for key, value in record.headers}


async def _true(value: bool) -> bool:
    return value


async def test_events_a_restarted_broker_lost_are_produced_again_without_new_traffic(
    own_tansu: Tansu,
) -> None:
    settings = kafka_settings(own_tansu.bootstrap)
    metrics = Metrics()
    engine = engine_for(settings)
    publisher = KafkaCommittedPublisher(engine, resend_window_s=60, metrics=metrics)
    got: list[int] = []

    async def handle(events: list[MessageCommitted]) -> None:
        got.extend(e.message.seq for e in events)

    async with started(engine):
        await publisher.publish([committed("s:1:2", seq) for seq in range(1, 6)])
        # Acknowledged, never consumed, and gone with the broker's memory.
        own_tansu.restart()
        async with consuming(source(engine, metrics), handle):
            await eventually(lambda: _true(len(set(got)) == 5), what="the lost events again")

    assert sorted(set(got)) == [1, 2, 3, 4, 5]
    topic = engine.topology.committed.name
    assert counter(metrics, "gomicroim_bus_resent_total", topic=topic) == 5
