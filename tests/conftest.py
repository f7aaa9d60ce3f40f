"""Shared test settings: uvloop, settings factory, engine locations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from gomicroim.config import RedisSettings, Settings, load_settings
from gomicroim.infra.redis import RedisEngine
from tests.redis_support import REDIS_URL, delete_session_keys, unique_prefix, unreachable

#: MariaDB/MySQL used by contract and integration tests; the CI machine runs one here.
MYSQL_URL = os.environ.get("GOMICROIM_TEST_MYSQL_URL", "mysql://root:@127.0.0.1:3306/")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every async test on uvloop, as the server does."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings for an embedded server in a fresh data directory, plus overrides."""

    def build(**sections: dict[str, Any]) -> Settings:
        overrides: dict[str, Any] = {"storage": {"data_dir": str(tmp_path / "data")}}
        overrides["identity"] = {"password_time_cost": 1, "password_memory_kib": 8192}
        for name, values in sections.items():
            overrides.setdefault(name, {}).update(values)
        return load_settings(env={}, overrides=overrides)

    return build


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The shared Redis, checked once; its keys of this session are deleted at the end."""
    reason = unreachable()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    yield REDIS_URL
    delete_session_keys()


class RedisEngines:
    """Starts :class:`RedisEngine` objects (one per simulated process) and stops them after."""

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = prefix
        self._started: list[RedisEngine] = []

    def settings(self, **values: Any) -> RedisSettings:
        """Redis settings of this test: its URL and prefix, a fast watch."""
        values = {"url": self.url, "key_prefix": self.prefix, "check_interval_s": 0.2} | values
        return RedisSettings(**values)

    async def start(self, **values: Any) -> RedisEngine:
        """A started engine on this test's prefix."""
        engine = RedisEngine(self.settings(**values))
        await engine.start()
        self._started.append(engine)
        return engine

    async def stop_all(self) -> None:
        """Stop every engine started here."""
        for engine in reversed(self._started):
            await engine.stop()
        self._started.clear()


@pytest.fixture
async def redis_engines(redis_url: str) -> AsyncIterator[RedisEngines]:
    """Engines on the shared Redis under a key prefix no other test uses."""
    engines = RedisEngines(redis_url, unique_prefix())
    try:
        yield engines
    finally:
        await engines.stop_all()
