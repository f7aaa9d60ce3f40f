"""The in-process bus: publish waits for handling, never forever; hints are bounded and lossy."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from gomicroim.infra.bus import ConsumerGone, InProcessTopic


class Handler:
    """Records batches; ``gate`` (when set) holds each batch until opened."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, items: list[int]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append(items)

    def items(self) -> list[int]:
        return [i for batch in self.batches for i in batch]


async def test_publish_returns_once_the_consumer_handled_the_items() -> None:
    topic: InProcessTopic[int] = InProcessTopic("t")
    handler = Handler()
    consumer = asyncio.create_task(topic.consume(handler))

    await asyncio.wait_for(topic.publish([1, 2]), 1)
    await asyncio.wait_for(topic.publish([3]), 1)

    assert handler.items() == [1, 2, 3]
    consumer.cancel()


async def test_a_consumer_that_dies_fails_its_publishers_instead_of_leaving_them_waiting() -> None:
    topic: InProcessTopic[int] = InProcessTopic("t")
    handler = Handler()
    handler.gate = asyncio.Event()
    consumer = asyncio.create_task(topic.consume(handler))
    handling = asyncio.create_task(topic.publish([1]))
    await asyncio.sleep(0.01)  # the consumer is in the middle of handling [1]
    queued = asyncio.create_task(topic.publish([2]))
    await asyncio.sleep(0.01)

    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer

    for publish in (handling, queued):
        with pytest.raises(ConsumerGone):
            await asyncio.wait_for(publish, 1)
    with pytest.raises(ConsumerGone):
        await asyncio.wait_for(topic.publish([3]), 1)

    # A restarted consumer serves new publishes; the failed ones are not handled late.
    handler.gate.set()
    restarted = asyncio.create_task(topic.consume(handler))
    await asyncio.wait_for(topic.publish([4]), 1)
    assert handler.items() == [4]
    restarted.cancel()


async def test_a_cancelled_publish_is_not_handled_later() -> None:
    topic: InProcessTopic[int] = InProcessTopic("t")
    handler = Handler()
    handler.gate = asyncio.Event()
    consumer = asyncio.create_task(topic.consume(handler))
    first = asyncio.create_task(topic.publish([1]))
    await asyncio.sleep(0.01)
    gave_up = asyncio.create_task(topic.publish([2]))
    await asyncio.sleep(0.01)
    gave_up.cancel()

    handler.gate.set()
    await asyncio.wait_for(first, 1)
    await asyncio.wait_for(topic.publish([3]), 1)

    assert handler.items() == [1, 3], "the publisher of 2 retries it from its outbox"
    consumer.cancel()


async def test_a_lossy_topic_never_blocks_and_drops_when_full() -> None:
    topic: InProcessTopic[int] = InProcessTopic("hints", max_batches=2, lossy=True)
    handler = Handler()

    for i in range(5):  # no consumer yet: two batches fit, the rest is dropped
        await asyncio.wait_for(topic.publish([i]), 1)
    consumer = asyncio.create_task(topic.consume(handler))
    await asyncio.sleep(0.01)

    assert handler.items() == [0, 1]
    consumer.cancel()
