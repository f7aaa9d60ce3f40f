"""The push topic in assign mode: the fan-out produces to a node's partitions, the node reads them.

Each gateway node owns partitions of the push topic (``kafka.node_partitions``) and reads them
with manual assignment, from the latest offset, without a consumer group: a node only ever
wants pushes for its own sockets, and nothing is committed (a push missed while a node is down
is pulled by the device when it reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from gomicroim.clock import Clock, now_ms
from gomicroim.gateway.contract import Push, PushBatch, PushRouter, PushTarget
from gomicroim.infra.kafka.engine import KafkaEngine, unavailable
from gomicroim.infra.tasks import stop_tasks

log = logging.getLogger("gomicroim.kafka.push")

_encode = msgspec.json.Encoder().encode
_decode_batch = msgspec.json.Decoder(PushBatch).decode

#: (device, conversation) pairs whose last pushed seq a gateway node remembers.
MAX_REMEMBERED = 200_000


class PushMetrics(Protocol):
    """Counts of pushes a node dropped."""

    def push_dropped(self, reason: str, deliveries: int) -> None:
        """``deliveries`` (push x device) were dropped, and why.

        ``stale``, ``replayed``, ``unknown_node``, or ``undecodable`` (a batch, counted once).
        """
        ...


class KafkaPushRouter:
    """The fan-out side: produces each node's batch to that node's push partitions.

    A node with several partitions gets its devices spread over them by user id, so the pushes
    of one device always travel through one partition, in order.
    """

    def __init__(self, engine: KafkaEngine, metrics: PushMetrics | None = None):
        engine.topology.require_push_nodes()
        engine.want_producer()
        self._engine = engine
        self._topic = engine.topology.push.name
        self._nodes = engine.topology.node_partitions
        self._metrics = metrics

    async def route(self, batch: PushBatch) -> None:
        """Produce ``batch`` to its node's partitions; return once the broker has it.

        Raises:
            Unavailable: the broker did not take it (the fan-out handles the event again).
        """
        partitions = self._nodes.get(batch.node_id)
        if not partitions:
            # Presence names a node the config does not know (removed, or renamed).
            log.warning("push for an unknown gateway node dropped", extra={"node": batch.node_id})
            if self._metrics is not None:
                self._metrics.push_dropped(
                    "unknown_node", sum(len(push.targets) for push in batch.pushes)
                )
            return
        producer = self._engine.producer()
        try:
            futures = [
                await producer.send(self._topic, _encode(part), partition=partition)
                for partition, part in _split(batch, partitions).items()
            ]
            await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise unavailable(exc, self._engine.servers) from exc


def _split(batch: PushBatch, partitions: tuple[int, ...]) -> dict[int, PushBatch]:
    if len(partitions) == 1:
        return {partitions[0]: batch}
    pushes: dict[int, list[Push]] = defaultdict(list)
    for push in batch.pushes:
        targets: dict[int, list[PushTarget]] = defaultdict(list)
        for target in push.targets:
            targets[partitions[target.user_id % len(partitions)]].append(target)
        for partition, part in targets.items():
            pushes[partition].append(Push(kind=push.kind, payload=push.payload, targets=part))
    return {
        partition: PushBatch(node_id=batch.node_id, created_at=batch.created_at, pushes=part)
        for partition, part in pushes.items()
    }


class _Position(msgspec.Struct):
    """What a push payload says about its place in a conversation."""

    conversation_id: str
    seq: int
    #: The reader, for a ``read`` push; a message push has none.
    user_id: int = 0


class ReplayFilter:
    """Drops what a device was already pushed, so a replayed batch is never seen twice.

    Kafka delivers a push batch again when the node's consumer starts over (and tansu answers
    "latest" with an offset before the last batch). Pushes of one conversation reach a device
    in seq order, so a push whose seq is not above the last one this node pushed to that
    device, for that conversation and kind, is a replay or out of order: it is dropped. The
    device still has every message through sync and history.
    """

    def __init__(self, max_remembered: int = MAX_REMEMBERED):
        self._last: OrderedDict[tuple[int, str, str, str, int], int] = OrderedDict()
        self._max = max_remembered

    def fresh(self, batch: PushBatch) -> tuple[PushBatch, int]:
        """``batch`` without the pushes devices already had; and how many targets were cut."""
        kept: list[Push] = []
        cut = 0
        for push in batch.pushes:
            try:
                position = msgspec.json.decode(push.payload, type=_Position)
            except (msgspec.DecodeError, msgspec.ValidationError):
                kept.append(push)
                continue
            targets = [t for t in push.targets if self._first_time(t, push.kind, position)]
            cut += len(push.targets) - len(targets)
            if len(targets) == len(push.targets):
                kept.append(push)
            elif targets:
                kept.append(Push(kind=push.kind, payload=push.payload, targets=targets))
        return PushBatch(node_id=batch.node_id, created_at=batch.created_at, pushes=kept), cut

    def _first_time(self, target: PushTarget, kind: str, position: _Position) -> bool:
        key = (target.user_id, target.device_id, kind, position.conversation_id, position.user_id)
        last = self._last.get(key)
        if last is not None and position.seq <= last:
            return False
        self._last[key] = position.seq
        self._last.move_to_end(key)
        if len(self._last) > self._max:
            self._last.popitem(last=False)
        return True


class PushPartitionConsumer:
    """The gateway side: reads this node's push partitions and hands batches to the gateway.

    Starts at the latest offset. Batches older than ``max_age_ms`` are dropped (a replay, or a
    node that was down: its devices pull), so are pushes a device already had. It reconnects
    by itself, resuming after the last batch it read.
    """

    def __init__(
        self,
        engine: KafkaEngine,
        *,
        node_id: str,
        deliver: PushRouter,
        max_age_s: float,
        metrics: PushMetrics | None = None,
        clock: Clock = now_ms,
    ):
        self._engine = engine
        self._topic = engine.topology.push.name
        self.partitions = engine.topology.partitions_of(node_id)
        self._deliver = deliver
        self._max_age_ms = int(max_age_s * 1000)
        self._metrics = metrics
        self._clock = clock
        self._replays = ReplayFilter()
        #: Partition → the next offset to read, once a record was read from it.
        self._next: dict[int, int] = {}

    async def run(self) -> None:
        """Consume until cancelled; reconnect with growing pauses when the broker is away."""
        pause = 0.2
        while True:
            consumer = AIOKafkaConsumer(
                enable_auto_commit=False,
                # Out of range means the log was reset (a broker that lost it): read it all.
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self._engine.settings.fetch_max_wait_ms,
                **self._engine.client_options(),
            )
            try:
                await consumer.start()
                await self._seek(consumer)
                pause = 0.2
                await self._read(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "push consumer stopped; reconnecting",
                    extra={"topic": self._topic, "reason": str(exc) or type(exc).__name__},
                )
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._engine.settings.max_retry_backoff_s)

    async def _seek(self, consumer: AIOKafkaConsumer) -> None:
        tps = [TopicPartition(self._topic, p) for p in self.partitions]
        consumer.assign(tps)
        fresh = [tp for tp in tps if tp.partition not in self._next]
        if fresh:
            await consumer.seek_to_end(*fresh)
        for tp in tps:
            if tp.partition in self._next:
                consumer.seek(tp, self._next[tp.partition])

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        epoch = self._engine.epoch
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            if self._engine.epoch != epoch:
                # The broker lost the topic: positions on the old log mean nothing now.
                epoch = self._engine.epoch
                await consumer.seek_to_beginning(*consumer.assignment())
                continue
            for tp, records in batches.items():
                for record in records:
                    await self._handle(record)
                self._next[tp.partition] = records[-1].offset + 1

    async def _handle(self, record: Any) -> None:
        try:
            batch = _decode_batch(record.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error(
                "undecodable push batch dropped",
                extra={"partition": record.partition, "offset": record.offset, "reason": str(exc)},
            )
            self._dropped("undecodable", 1)
            return
        if self._clock() - batch.created_at > self._max_age_ms:
            self._dropped("stale", sum(len(push.targets) for push in batch.pushes))
            return
        batch, replayed = self._replays.fresh(batch)
        if replayed:
            self._dropped("replayed", replayed)
        if not batch.pushes:
            return
        try:
            await self._deliver.route(batch)
        except Exception:
            log.exception("push delivery failed", extra={"partition": record.partition})

    def _dropped(self, reason: str, deliveries: int) -> None:
        if self._metrics is not None:
            self._metrics.push_dropped(reason, deliveries)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Consume in a background task for the body of the ``async with``."""
        task = asyncio.create_task(self.run(), name="push-consumer")
        try:
            yield
        finally:
            await stop_tasks(task)
