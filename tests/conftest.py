"""Shared test settings: uvloop, settings factory, engine locations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop

from gomicroim.config import Settings, load_settings

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
