"""Loopback clusters started by ``scripts/loopback-cluster``, as a user of the README would.

``up`` runs as a subprocess and its one JSON line is all a test knows of the cluster; ``down
--drop-database`` stops it and removes its database and Redis keys at teardown.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gomicroim.infra.loopback import free_port
from tests.conftest import MYSQL_URL
from tests.e2e.client import Api
from tests.e2e.devices import Devices, opened_devices
from tests.redis_support import REDIS_URL

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "loopback-cluster"
UP_TIMEOUT_S = 120


@dataclass(frozen=True)
class Endpoint:
    """One address of the cluster: a replica, or nginx in front of them."""

    base_url: str

    @property
    def port(self) -> int:
        """The port of ``base_url``."""
        return int(urlsplit(self.base_url).port or 80)


@dataclass
class Cluster:
    """What ``scripts/loopback-cluster up`` printed."""

    nginx: Endpoint
    replicas: list[Endpoint]
    node_ids: list[str]
    pids: dict[str, int]
    state_dir: Path
    summary: dict[str, Any]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    env["GOMICROIM_PYTHON"] = sys.executable
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT_S,
        check=False,
    )


def start_cluster(state_dir: Path, replicas: int) -> Cluster:
    """``up`` a cluster of ``replicas`` with a database of its own; fail with its stderr."""
    database = f"gomicroim_cluster_{secrets.token_hex(4)}"
    done = _run(
        "up", "--replicas", str(replicas), "--port", str(free_port()),
        "--state-dir", str(state_dir), "--database", database, "--no-limits",
        "--mysql-url", MYSQL_URL, "--redis-url", REDIS_URL,
    )  # fmt: skip
    if done.returncode != 0:
        _run("down", "--state-dir", str(state_dir), "--drop-database")
        pytest.fail(
            f"scripts/loopback-cluster up failed ({done.returncode}): {done.stderr.strip()}\n"
            "it needs MariaDB on 127.0.0.1:3306 and Redis on :6379 (scripts/services) and nginx",
            pytrace=False,
        )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    summary = json.loads(lines[0])
    return Cluster(
        nginx=Endpoint(summary["url"]),
        replicas=[Endpoint(url) for url in summary["replicas"]],
        node_ids=summary["node_ids"],
        pids=summary["pids"],
        state_dir=Path(summary["state_dir"]),
        summary=summary,
    )


def stop_cluster(cluster: Cluster) -> None:
    """``down`` the cluster and drop its database."""
    done = _run("down", "--state-dir", str(cluster.state_dir), "--drop-database")
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three replicas behind nginx, shared by a test module (tests use unique usernames)."""
    started = start_cluster(tmp_path_factory.mktemp("cluster"), replicas=3)
    try:
        yield started
    finally:
        stop_cluster(started)


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[Endpoint], Api]]:
    """Open an :class:`Api` on one address of a cluster; clients are closed at teardown."""
    clients: list[httpx.AsyncClient] = []

    def open_api(endpoint: Endpoint) -> Api:
        client = httpx.AsyncClient(base_url=endpoint.base_url, timeout=30.0)
        clients.append(client)
        return Api(client)

    try:
        yield open_api
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    """WebSocket devices on any address of a cluster, closed at teardown."""
    async with opened_devices() as opened:
        yield opened
