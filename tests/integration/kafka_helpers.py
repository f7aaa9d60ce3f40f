"""Building and reading Kafka pieces in integration tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gomicroim.config import KafkaSettings
from gomicroim.infra.kafka.engine import KafkaEngine
from gomicroim.infra.kafka.topology import KafkaTopology
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead


def engine_for(settings: KafkaSettings) -> KafkaEngine:
    """An engine (not started) for ``settings``."""
    return KafkaEngine(settings, KafkaTopology.from_settings(settings))


@contextlib.asynccontextmanager
async def started(engine: KafkaEngine) -> AsyncIterator[KafkaEngine]:
    """Run ``engine`` for the body of the ``async with``."""
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def topic_partitions(bootstrap: str) -> dict[str, int]:
    """Every topic on the broker and its partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(None)}
    finally:
        await admin.close()


async def read_all(bootstrap: str, topic: str, partitions: int = 1) -> list[Any]:
    """Every record of ``topic`` from the beginning, in partition order.

    Polls until the topic stays quiet: tansu's "latest offset" is not the log end.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        quiet = 0
        while quiet < 2:
            batch = await consumer.getmany(timeout_ms=300)
            quiet = 0 if batch else quiet + 1
            for tp_records in batch.values():
                records.extend(tp_records)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


def committed(conversation_id: str, seq: int, body: str = "hi") -> MessageCommitted:
    """A committed-message event of a single chat between users 1 and 2."""
    return MessageCommitted(
        message=MessageRead(
            conversation_id=conversation_id,
            seq=seq,
            sender_id=1,
            to=2,
            session_type="single",
            client_msg_id=f"{conversation_id}-{seq}",
            msg_type="text",
            body=body,
            created_at=1_700_000_000_000 + seq,
        ),
        sender_device_id="phone",
    )


def counter(metrics: Metrics, name: str, **labels: str) -> float:
    """A Prometheus sample's value (0 when it was never counted)."""
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)
