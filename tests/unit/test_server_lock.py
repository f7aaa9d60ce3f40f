"""Which configurations allow one server per database, and the file lock that enforces it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gomicroim.cli.admin import _duration_ms
from gomicroim.config import ConfigError, Settings
from gomicroim.infra.process_lock import (
    FileLock,
    NamedDatabaseLock,
    lock_name,
    needs_exclusive_server,
    server_lock,
)


@pytest.mark.parametrize(
    ("kafka", "redis", "exclusive"),
    [("", "", True), ("k:9092", "", True), ("", "redis://r", True), ("k:9092", "redis://r", False)],
)
def test_only_a_configured_cluster_allows_several_servers(
    make_settings: Callable[..., Settings], kafka: str, redis: str, exclusive: bool
) -> None:
    settings = make_settings(kafka={"bootstrap_servers": kafka}, redis={"url": redis})
    assert needs_exclusive_server(settings) is exclusive
    assert (server_lock(settings) is None) is not exclusive


def test_the_embedded_lock_sits_next_to_the_database(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    lock = server_lock(settings)
    assert isinstance(lock, FileLock)
    assert lock.path == (settings.data_path / "gomicroim.sqlite3.lock").resolve()


def test_a_mysql_database_gets_a_named_lock_of_its_own(
    make_settings: Callable[..., Settings],
) -> None:
    lock = server_lock(make_settings(storage={"database_url": "mysql://u:p@db:3306/im"}))
    assert isinstance(lock, NamedDatabaseLock)
    assert lock.name == "gomicroim:serve:im"
    long = lock_name("x" * 64)
    assert len(long) <= 64
    assert long != lock_name("x" * 63 + "y")


def test_a_second_holder_is_refused_with_the_first_ones_pid_until_it_releases(
    tmp_path: Path,
) -> None:
    first, second = FileLock(tmp_path / "db.lock"), FileLock(tmp_path / "db.lock")
    first.acquire()
    with pytest.raises(ConfigError) as refused:
        second.acquire()
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message
    assert "kafka.bootstrap_servers and redis.url" in message
    first.release()
    second.acquire()
    second.release()


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30s", 30_000),
        ("15m", 900_000),
        ("12h", 43_200_000),
        ("7d", 604_800_000),
        ("2w", 1_209_600_000),
        ("never", None),
    ],
)
def test_invite_lifetimes_are_written_with_a_unit(text: str, ms: int | None) -> None:
    assert _duration_ms(text) == ms


@pytest.mark.parametrize("text", ["7", "7 d", "-1d", "1y", "", "1.5h", "७d"])
def test_a_lifetime_without_a_known_unit_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _duration_ms(text)
