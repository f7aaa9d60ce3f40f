"""The push topic on tansu in assign mode: node partitions, order, stale and replayed batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest

from gomicroim.clock import now_ms
from gomicroim.config import KafkaSettings
from gomicroim.gateway.contract import Push, PushBatch, PushTarget
from gomicroim.infra.kafka.engine import KafkaEngine
from gomicroim.infra.kafka.push import KafkaPushRouter, PushPartitionConsumer
from gomicroim.infra.metrics import Metrics
from tests.fakes.push import RecordingRouter
from tests.integration.conftest import eventually, kafka_settings
from tests.integration.kafka_helpers import counter, engine_for, started
from tests.integration.tansu import Tansu

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NODES = {"gw-1": [0, 1], "gw-2": [2]}


@pytest.fixture
def settings(tansu: Tansu) -> KafkaSettings:
    return kafka_settings(tansu.bootstrap, push_partitions=3, node_partitions=NODES)


def message(conversation_id: str, seq: int, *targets: tuple[int, str]) -> Push:
    payload = msgspec.json.encode({"conversation_id": conversation_id, "seq": seq, "body": "x"})
    return Push(
        kind="message",
        payload=msgspec.Raw(payload),
        targets=[PushTarget(user, device) for user, device in targets],
    )


def batch(node: str, *pushes: Push, created_at: int | None = None) -> PushBatch:
    return PushBatch(node_id=node, created_at=created_at or now_ms(), pushes=list(pushes))


def seen(router: RecordingRouter) -> list[tuple[int, str, str, int]]:
    """(user, device, conversation, seq) in the order the gateway was handed them."""
    out = []
    for routed in router.batches:
        for push in routed.pushes:
            position = msgspec.json.decode(push.payload)
            for target in push.targets:
                out.append(
                    (target.user_id, target.device_id, position["conversation_id"], position["seq"])
                )
    return out


class Node:
    """A gateway node's push consumer, delivering into a recording gateway."""

    def __init__(self, engine: KafkaEngine, node_id: str, metrics: Metrics, max_age_s: float = 30):
        self.gateway = RecordingRouter()
        self.consumer = PushPartitionConsumer(
            engine, node_id=node_id, deliver=self.gateway, max_age_s=max_age_s, metrics=metrics
        )


@contextlib.asynccontextmanager
async def running(*nodes: Node) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for node in nodes:
            await stack.enter_async_context(node.consumer.running())
        # Let every node reach its starting offset before anything is produced.
        await asyncio.sleep(1.5)
        yield


async def test_each_node_gets_only_its_own_pushes_and_each_device_in_order(
    settings: KafkaSettings,
) -> None:
    metrics = Metrics()
    engine = engine_for(settings)
    router = KafkaPushRouter(engine, metrics)
    one, two = Node(engine, "gw-1", metrics), Node(engine, "gw-2", metrics)

    async with started(engine), running(one, two):
        for seq in range(1, 6):
            await router.route(
                batch("gw-1", message("g:9", seq, (1, "a"), (2, "a"), (3, "b"), (4, "a")))
            )
            await router.route(batch("gw-2", message("g:9", seq, (5, "a"))))
        await eventually(lambda: _true(len(seen(one.gateway)) == 20), what="gw-1's pushes")
        await eventually(lambda: _true(len(seen(two.gateway)) == 5), what="gw-2's pushes")

    for user in (1, 2, 3, 4):
        assert [s[3] for s in seen(one.gateway) if s[0] == user] == [1, 2, 3, 4, 5]
    assert {s[0] for s in seen(two.gateway)} == {5}
    assert [s[3] for s in seen(two.gateway)] == [1, 2, 3, 4, 5]
    # gw-1 owns two partitions: its users are spread over both, by user id.
    assert len({b.pushes[0].targets[0].user_id % 2 for b in one.gateway.batches}) == 2


async def test_a_node_starts_at_the_latest_push_and_drops_stale_and_replayed_ones(
    settings: KafkaSettings,
) -> None:
    metrics = Metrics()
    engine = engine_for(settings)
    router = KafkaPushRouter(engine, metrics)
    node = Node(engine, "gw-2", metrics, max_age_s=5)

    async with started(engine):
        await router.route(batch("gw-2", message("s:1:5", 1, (5, "a"))))
        await router.route(batch("gw-2", message("s:1:5", 2, (5, "a"))))
        async with running(node):
            await router.route(batch("gw-2", message("s:1:5", 3, (5, "a")), created_at=1))
            await router.route(batch("gw-2", message("s:1:5", 4, (5, "a"))))
            await router.route(batch("gw-2", message("s:1:5", 4, (5, "a"))))
            await router.route(
                batch("gw-2", message("s:1:5", 5, (5, "a")), message("s:1:5", 4, (5, "a")))
            )
            await eventually(lambda: _true(5 in [s[3] for s in seen(node.gateway)]), what="seq 5")

    # Nothing from before the start; seq 3 was stale; seq 4 came three times, delivered once.
    assert [s[3] for s in seen(node.gateway)] == [4, 5]
    assert counter(metrics, "gomicroim_push_dropped_total", reason="stale") == 1
    assert counter(metrics, "gomicroim_push_dropped_total", reason="replayed") == 2


async def test_a_push_for_a_node_nobody_configured_is_dropped_and_counted(
    settings: KafkaSettings,
) -> None:
    metrics = Metrics()
    engine = engine_for(settings)
    router = KafkaPushRouter(engine, metrics)

    async with started(engine):
        await router.route(batch("gw-old", message("s:1:2", 1, (1, "a"), (2, "b"))))

    assert counter(metrics, "gomicroim_push_dropped_total", reason="unknown_node") == 2


async def _true(value: bool) -> bool:
    return value
