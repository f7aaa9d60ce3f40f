"""Integration fixtures: tansu brokers started and stopped by the tests, Kafka settings."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gomicroim.config import KafkaSettings, Settings, load_settings
from tests.integration.tansu import Tansu

#: Tansu joins a consumer group in session_timeout_ms / 2: keep the timeouts short in tests.
FAST_GROUPS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}


@pytest.fixture(scope="module")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    """One broker per test module; tests keep apart by topic prefix and group id."""
    broker = Tansu(tmp_path_factory.mktemp("tansu"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def own_tansu(tmp_path: Path) -> Iterator[Tansu]:
    """A broker of the test's own, for tests that stop or restart it."""
    broker = Tansu(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def kafka_settings(bootstrap: str, **values: Any) -> KafkaSettings:
    """``kafka.*`` for ``bootstrap`` with a unique topic prefix and group, fast groups."""
    unique = secrets.token_hex(4)
    overrides = {
        "bootstrap_servers": bootstrap,
        "topic_prefix": f"t{unique}.",
        "consumer_group": f"g{unique}",
        "topic_check_interval_s": 0.5,
        "retry_backoff_s": 0.05,
        "max_retry_backoff_s": 0.5,
        **FAST_GROUPS,
        **values,
    }
    settings = load_settings(env={}, overrides={"kafka": overrides})
    return settings.kafka


def cluster_settings(
    tmp_path: Path, bootstrap: str, **sections: dict[str, Any]
) -> Callable[..., Settings]:
    """A factory of settings for processes of one deployment on ``bootstrap``."""
    kafka = kafka_settings(bootstrap, **sections.pop("kafka", {}))
    base: dict[str, Any] = {
        "storage": {"data_dir": str(tmp_path / "data")},
        "identity": {"password_time_cost": 1, "password_memory_kib": 8192},
        "limits": {"requests_per_second": 0},
        "kafka": {f: getattr(kafka, f) for f in kafka.__struct_fields__},
        **sections,
    }

    def build(**server: Any) -> Settings:
        return load_settings(env={}, overrides={**base, "server": server})

    return build


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(0.1)
