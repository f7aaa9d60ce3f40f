"""Consuming a bus topic as a consumer group: commit after handling, bounded retries, DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from gomicroim.errors import Unavailable
from gomicroim.infra.database import database_outage
from gomicroim.infra.kafka.engine import KafkaEngine, unavailable
from gomicroim.infra.kafka.topology import TopicSpec

log = logging.getLogger("gomicroim.kafka")

T = TypeVar("T")
Handler = Callable[[list[T]], Awaitable[None]]

#: Records fetched per poll; one partition's share is handed to the handler as one batch.
MAX_POLL_RECORDS = 500


class DeadLetterMetrics(Protocol):
    """Counts of retried and dead-lettered events."""

    def bus_retried(self, topic: str) -> None:
        """A failed handling of an event of ``topic`` is tried again."""
        ...

    def bus_dead_lettered(self, topic: str, reason: str) -> None:
        """An event of ``topic`` went to the dead-letter topic (``undecodable``/``failing``)."""
        ...


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says an engine is down (wait for it) rather than the event is bad."""
    if isinstance(exc, Unavailable | OSError | TimeoutError):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    # A lost or refused database connection, whichever way tortoise wrapped it.
    return database_outage(exc) is not None or isinstance(exc.__cause__, OSError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing event is tried, and the pauses between tries."""

    attempts: int
    backoff_s: float
    max_backoff_s: float

    def pause(self, attempt: int) -> float:
        """The pause after failed attempt ``attempt`` (1-based): doubling, capped."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


class DeadLetters:
    """The dead-letter topic: the failing record as it was, with why and where it came from."""

    def __init__(
        self, engine: KafkaEngine, policy: RetryPolicy, metrics: DeadLetterMetrics | None = None
    ):
        engine.want_producer()
        self._engine = engine
        self._policy = policy
        self._metrics = metrics
        self.topic = engine.topology.dead_letter.name

    async def send(self, record: Any, reason: str, kind: str) -> None:
        """Produce ``record`` to the dead-letter topic; wait (retrying) until it is taken.

        The source offset is committed only after this returns, so a dead letter is never lost
        to a broker outage.
        """
        headers = [
            ("gomicroim-source-topic", record.topic.encode()),
            ("gomicroim-source-partition", str(record.partition).encode()),
            ("gomicroim-source-offset", str(record.offset).encode()),
            ("gomicroim-reason", reason[:1000].encode()),
        ]
        attempt = 0
        while True:
            attempt += 1
            try:
                producer = self._engine.producer()
                await producer.send_and_wait(
                    self.topic, record.value, key=record.key, headers=headers
                )
                break
            except (Unavailable, KafkaError, OSError, TimeoutError) as exc:
                log.warning(
                    "dead letter not taken yet; retrying",
                    extra={"topic": self.topic, "reason": str(exc) or type(exc).__name__},
                )
                await asyncio.sleep(self._policy.pause(attempt))
        log.error(
            "event moved to the dead-letter topic",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "dead_letter_topic": self.topic,
                "reason": reason,
            },
        )
        if self._metrics is not None:
            self._metrics.bus_dead_lettered(record.topic, kind)


class KafkaEventSource(Generic[T]):
    """A topic consumed by this process as a member of a consumer group (the fan-out workers).

    At least once: a partition's offset is committed only after the handler finished with its
    records (handlers are idempotent). An event that cannot be decoded, or whose handling still
    fails after ``policy.attempts`` tries with growing pauses, goes to the dead-letter topic and
    is committed past, so it cannot block its partition. Failures that mean an engine is down
    are not the event's fault: they are retried without limit and never dead-lettered. The
    consumer reconnects by itself when the broker goes away.
    """

    def __init__(
        self,
        engine: KafkaEngine,
        *,
        topic: TopicSpec,
        event_type: type[T],
        group_id: str,
        policy: RetryPolicy,
        dead_letters: DeadLetters,
        metrics: DeadLetterMetrics | None = None,
    ):
        self._engine = engine
        self.topic = topic.name
        self._decoder = msgspec.json.Decoder(event_type)
        self._group_id = group_id
        self._policy = policy
        self._dead_letters = dead_letters
        self._metrics = metrics

    async def consume(self, handler: Handler[T]) -> None:
        """Call ``handler`` with each partition's batch until cancelled; reconnect on errors."""
        failures = 0
        while True:
            consumer = self._new_consumer()
            try:
                await consumer.start()
                failures = 0
                await self._run(consumer, handler)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning(
                    "kafka consumer stopped; reconnecting",
                    extra={"topic": self.topic, "reason": str(exc) or type(exc).__name__},
                )
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(self._policy.pause(max(failures, 1)))

    def _new_consumer(self) -> AIOKafkaConsumer:
        settings = self._engine.settings
        return AIOKafkaConsumer(
            self.topic,
            group_id=self._group_id,
            enable_auto_commit=False,
            # A group without a committed offset (new, or the broker lost it) reads all.
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_poll_records=MAX_POLL_RECORDS,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            **self._engine.client_options(),
        )

    async def _run(self, consumer: AIOKafkaConsumer, handler: Handler[T]) -> None:
        epoch = self._engine.epoch
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=MAX_POLL_RECORDS)
            if self._engine.epoch != epoch:
                # The broker lost its topics: what this consumer holds positions for is gone.
                epoch = self._engine.epoch
                if consumer.assignment():
                    await consumer.seek_to_beginning(*consumer.assignment())
                continue
            for tp, records in batches.items():
                await self._handle(records, handler)
                await self._commit(consumer, tp, records[-1].offset + 1)

    async def _handle(self, records: list[Any], handler: Handler[T]) -> None:
        decoded: list[tuple[Any, T]] = []
        for record in records:
            try:
                decoded.append((record, self._decoder.decode(record.value or b"")))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self._dead_letters.send(record, f"cannot decode: {exc}", "undecodable")
        if not decoded:
            return
        if await self._attempt(handler, [event for _, event in decoded]) is None:
            return
        if len(decoded) == 1:
            await self._retry_one(handler, *decoded[0])
            return
        # One of them may be the poison: find it by handling them one by one.
        for record, event in decoded:
            await self._retry_one(handler, record, event)

    async def _retry_one(self, handler: Handler[T], record: Any, event: T) -> None:
        error: Exception | None = None
        for attempt in range(1, self._policy.attempts + 1):
            error = await self._attempt(handler, [event])
            if error is None:
                return
            if attempt < self._policy.attempts:
                if self._metrics is not None:
                    self._metrics.bus_retried(self.topic)
                await asyncio.sleep(self._policy.pause(attempt))
        reason = f"handling failed {self._policy.attempts} times: {type(error).__name__}: {error}"
        await self._dead_letters.send(record, reason, "failing")

    async def _attempt(self, handler: Handler[T], events: list[T]) -> Exception | None:
        """Handle ``events`` once, waiting out engine outages; the event's own error, if any."""
        outages = 0
        while True:
            try:
                await handler(events)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_outage(exc):
                    log.warning(
                        "event handling failed",
                        extra={"topic": self.topic, "events": len(events), "reason": repr(exc)},
                    )
                    return exc
                outages += 1
                log.warning(
                    "event handling waits for an engine",
                    extra={"topic": self.topic, "reason": str(exc) or type(exc).__name__},
                )
                await asyncio.sleep(self._policy.pause(outages))

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: OffsetAndMetadata(offset, "")})
        except (CommitFailedError, KafkaError) as exc:
            # The partition moved to another worker (or the broker went away): the records
            # come again from the last commit, and handlers are idempotent.
            log.warning(
                "kafka commit failed; records will be handled again",
                extra={"topic": self.topic, "partition": tp.partition, "reason": str(exc)},
            )
        except (OSError, TimeoutError) as exc:
            raise unavailable(exc, self._engine.servers) from exc
