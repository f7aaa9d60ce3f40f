"""Small pieces the containers use to wire the Kafka adapters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from gomicroim.config import KafkaSettings
from gomicroim.infra.kafka.consumer import RetryPolicy


def retry_policy(kafka: KafkaSettings) -> RetryPolicy:
    """The bus consumers' retry policy from ``kafka.*``."""
    return RetryPolicy(
        attempts=kafka.handle_attempts,
        backoff_s=kafka.retry_backoff_s,
        max_backoff_s=kafka.max_retry_backoff_s,
    )


def read_group(kafka: KafkaSettings) -> str:
    """The consumer group of the read topic: the fan-out group's name + ``-read``."""
    return f"{kafka.consumer_group}-read"


class _NoPushConsumer:
    """In process, the fan-out hands pushes to the gateway directly: nothing to consume."""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield


no_push_consumer = _NoPushConsumer()
