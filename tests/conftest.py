"""Shared test settings: uvloop, settings factory, engine locations."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop

from gomicroim.config import Settings, load_settings

#: MariaDB/MySQL used by contract and integration tests; the CI machine runs one here.
MYSQL_URL = os.environ.get("GOMICROIM_TEST_MYSQL_URL", "mysql://root:@127.0.0.1:3306/")


@pytest.fixture(scope="session")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    """Run every async test on uvloop, as the server does."""
    return uvloop.EventLoopPolicy()


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
