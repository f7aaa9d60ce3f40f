"""Producing the bus topics: committed messages (acknowledged, resent if lost) and read hints."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import msgspec
from aiokafka.errors import KafkaError

from gomicroim.errors import Unavailable
from gomicroim.infra.kafka.engine import KafkaEngine, unavailable
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved

log = logging.getLogger("gomicroim.kafka")

_encode = msgspec.json.Encoder().encode

#: At most this many acknowledged events are kept for a resend, whatever the window.
MAX_RESEND_EVENTS = 100_000
#: A read hint waits at most this long for the broker; then it is dropped (lists are the truth).
READ_HINT_TIMEOUT_S = 0.5


class ResendMetrics(Protocol):
    """Counts events produced again because the broker lost them."""

    def bus_resent(self, topic: str, events: int) -> None:
        """``events`` acknowledged events of ``topic`` were produced again."""
        ...


class _Sent(NamedTuple):
    at: float
    key: bytes
    value: bytes


class KafkaCommittedPublisher:
    """The outbox relay's publisher: one record per event, keyed by conversation id.

    The key keeps a conversation in one partition, so the fan-out reads it in seq order.
    :meth:`publish` returns only when every record is acknowledged by all in-sync replicas,
    which is when the relay may mark the outbox rows; any failure raises
    :class:`Unavailable` and the relay publishes the rows again later.

    A broker can lose acknowledged records: tansu keeps nothing across a restart, and an
    operator may delete a topic. So the events acknowledged in the last
    ``kafka.resend_window_s`` are kept, and produced again when the log is seen to have gone
    back: the broker acknowledges an offset at or below one it acknowledged before, its latest
    offsets fall below what it acknowledged, or the engine had to create the topic again. The
    fan-out is idempotent, so a resend costs work, never a duplicate.
    """

    def __init__(
        self, engine: KafkaEngine, *, resend_window_s: float, metrics: ResendMetrics | None = None
    ):
        engine.want_producer()
        engine.on_check(self.check_log)
        self._engine = engine
        self._topic = engine.topology.committed.name
        self._window_s = resend_window_s
        self._metrics = metrics
        self._sent: deque[_Sent] = deque()
        #: Per partition: the highest offset acknowledged, and the lowest of the last publish.
        self._highest: dict[int, int] = {}
        self._last_base: dict[int, int] = {}
        self._epoch = engine.epoch
        self._suspect = False
        self._lock = asyncio.Lock()

    async def publish(self, items: list[MessageCommitted]) -> None:
        """Produce ``items`` in order; return once all are acknowledged.

        Raises:
            Unavailable: the broker did not acknowledge every record.
        """
        if not items:
            return
        records = [(e.message.conversation_id.encode(), _encode(e)) for e in items]
        async with self._lock:
            if self._suspect or self._engine.epoch != self._epoch:
                await self._check_log_locked()
            try:
                offsets = await self._produce(records)
            except Unavailable:
                # Whatever went before may have gone with the broker: check before the next.
                self._suspect = True
                raise
            lost = self._record(offsets)
            earlier = len(self._sent)
            now = time.monotonic()
            self._sent.extend(_Sent(now, key, value) for key, value in records)
            self._forget_old()
            if lost:
                await self._resend(list(self._sent)[:earlier], "acknowledged offsets went back")
            self._suspect = False

    async def check_log(self) -> None:
        """Resend what the broker lost, if its log has gone back; run by the engine's keeper."""
        async with self._lock:
            await self._check_log_locked()

    async def _check_log_locked(self) -> None:
        self._forget_old()
        reason = None
        if self._engine.epoch != self._epoch:
            reason = "the topic had to be created again"
        elif self._sent and self._last_base:
            latest = await self._engine.latest_offsets(self._topic, set(self._last_base))
            behind = [p for p, base in self._last_base.items() if latest.get(p, 0) <= base]
            if behind:
                reason = f"latest offsets of partitions {sorted(behind)} went back"
        self._epoch = self._engine.epoch
        self._suspect = False
        if reason is not None:
            await self._resend(list(self._sent), reason)

    async def _resend(self, lost: Sequence[_Sent], reason: str) -> None:
        self._highest.clear()
        self._last_base.clear()
        if not lost:
            return
        log.warning(
            "kafka lost acknowledged events; producing them again",
            extra={"topic": self._topic, "events": len(lost), "reason": reason},
        )
        try:
            offsets = await self._produce([(s.key, s.value) for s in lost])
        except Unavailable:
            self._suspect = True
            raise
        self._record(offsets)
        if self._metrics is not None:
            self._metrics.bus_resent(self._topic, len(lost))

    async def _produce(self, records: list[tuple[bytes, bytes]]) -> list[tuple[int, int]]:
        """Produce and wait for every acknowledgement; (partition, offset) per record."""
        producer = self._engine.producer()
        try:
            futures = [await producer.send(self._topic, value, key=key) for key, value in records]
            metadata: list[Any] = await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise unavailable(exc, self._engine.servers) from exc
        return [(m.partition, m.offset) for m in metadata]

    def _record(self, offsets: list[tuple[int, int]]) -> bool:
        """Remember the acknowledged offsets; True when one is at or below an earlier one."""
        went_back = False
        base: dict[int, int] = {}
        for partition, offset in offsets:
            if offset <= self._highest.get(partition, -1):
                went_back = True
            self._highest[partition] = max(offset, self._highest.get(partition, -1))
            base[partition] = min(offset, base.get(partition, offset))
        self._last_base.update(base)
        return went_back

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self._window_s
        sent = self._sent
        while sent and (sent[0].at < horizon or len(sent) > MAX_RESEND_EVENTS):
            sent.popleft()


class KafkaReadPublisher:
    """Read-position hints to their own topic, keyed by conversation id; never waits long.

    Reads are hints (the conversation list is the truth), so a hint the broker does not take
    within :data:`READ_HINT_TIMEOUT_S` is dropped and logged, not retried.
    """

    def __init__(self, engine: KafkaEngine):
        engine.want_producer()
        self._engine = engine
        self._topic = engine.topology.read.name

    async def publish(self, items: list[ReadPositionMoved]) -> None:
        """Hand the hints to the producer; drop them if the broker is not there."""
        try:
            async with asyncio.timeout(READ_HINT_TIMEOUT_S):
                producer = self._engine.producer()
                for event in items:
                    key = event.conversation_id.encode()
                    await producer.send(self._topic, _encode(event), key=key)
        except (Unavailable, KafkaError, OSError, TimeoutError) as exc:
            log.info(
                "read hints dropped: kafka does not take them",
                extra={"events": len(items), "reason": str(exc) or type(exc).__name__},
            )
