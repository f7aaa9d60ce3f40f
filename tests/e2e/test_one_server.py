"""One server per database while the bus is in process: a second ``gomicroim serve`` refuses.

On SQLite the first server holds an ``flock`` in the data directory, on MariaDB a named lock
on a connection of its own. The second exits 2 with one line naming the fix, and starts
once the first stopped (gracefully, or killed: the kernel and the database server drop the
locks of a dead process). Operator commands take no lock and work while the server runs.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import MYSQL_URL
from tests.e2e.server import BASE_ENV, EXECUTABLE, ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

_MYSQL = urlsplit(MYSQL_URL)
FIX = "kafka.bootstrap_servers and redis.url"


def serve_second(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Start another server on the same storage; it must stop by itself."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    environment.update(BASE_ENV)
    environment.update(env)
    return subprocess.run(
        [str(EXECUTABLE), "serve", "--port", "0", "--data-dir", str(data_dir)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gomicroim: another gomicroim server"), lines[0]
    for needle in (FIX, "would lose pushes", *needles):
        assert needle in lines[0], lines[0]


def users_served(server: ServerProcess) -> int:
    answer = httpx.post(
        f"{server.base_url}/api/v1/auth/register",
        json={"username": f"u{secrets.token_hex(4)}", "password": "correct horse battery"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_a_second_server_on_one_sqlite_data_dir_exits_2_until_the_first_stops(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir, tmp_path / "first")
    (tmp_path / "first").mkdir()
    first.start()
    try:
        assert_refused(serve_second(data_dir, {}), f"pid {first.pid}", str(data_dir))
        assert first.running
        users_served(first)  # the refused start did not disturb it
    finally:
        first.stop()

    (tmp_path / "second").mkdir()
    second = ServerProcess(data_dir, tmp_path / "second")
    second.start()
    try:
        users_served(second)
        # A killed server leaves no lock behind either.
        second.kill()
        third = ServerProcess(data_dir, tmp_path / "second")
        third.start()
        third.stop()
    finally:
        second.kill()


@pytest.fixture
def mysql_env() -> Iterator[dict[str, str]]:
    name = f"gomicroim_test_{secrets.token_hex(4)}"
    base = ["mysql", "--protocol=tcp", f"-h{_MYSQL.hostname}", f"-P{_MYSQL.port or 3306}"]
    base += [f"-u{_MYSQL.username or 'root'}"] + (
        [f"-p{_MYSQL.password}"] if _MYSQL.password else []
    )

    def sql(statement: str) -> None:
        done = subprocess.run([*base, "-e", statement], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(
                f"{statement!r} failed: {done.stderr.strip()}; start MariaDB: scripts/services"
            )

    sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    auth = (_MYSQL.username or "root") + (f":{_MYSQL.password}" if _MYSQL.password else "")
    try:
        yield {
            "GOMICROIM__STORAGE__DATABASE_URL": (
                f"mysql://{auth}@{_MYSQL.hostname}:{_MYSQL.port or 3306}/{name}"
            ),
            "GOMICROIM__STORAGE__POOL_MAX_SIZE": "4",
            "GOMICROIM__IDENTITY__JWT_SECRET": secrets.token_hex(32),
        }
    finally:
        sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.mysql
def test_a_second_server_on_one_mariadb_database_exits_2_until_the_first_stops(
    tmp_path: Path, mysql_env: dict[str, str]
) -> None:
    # Different data directories: only the database is shared, as on two machines.
    logs = tmp_path / "logs"
    logs.mkdir()
    first = ServerProcess(tmp_path / "a", logs, env=mysql_env)
    first.start()
    try:
        database = mysql_env["GOMICROIM__STORAGE__DATABASE_URL"].rsplit("/", 1)[1]
        assert_refused(serve_second(tmp_path / "b", mysql_env), database)
        users_served(first)
    finally:
        first.stop()

    second = ServerProcess(tmp_path / "b", logs, env=mysql_env)
    second.start()
    try:
        users_served(second)
        # The database server drops the named lock of a killed process's connection.
        second.kill()
        third = ServerProcess(tmp_path / "c", logs, env=mysql_env)
        third.start()
        users_served(third)
        third.stop()
    finally:
        second.kill()
