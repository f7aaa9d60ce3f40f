"""A database outage from outside: 503 ``unavailable`` with ``Retry-After``, then recovery.

The server runs on MariaDB through :class:`TcpProxy` on a dedicated database
``gomicroim_test_<random>`` (dropped afterwards). Cutting the proxy resets every pooled
connection and refuses new ones, which is what the server sees when the database host
crashes or becomes unreachable; the shared MariaDB keeps serving everyone else. Restoring the
proxy is the database coming back.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import MYSQL_URL
from tests.e2e.client import Api, conversation_id
from tests.e2e.server import ServerProcess
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.mysql, pytest.mark.timeout(180)]

_MYSQL = urlsplit(MYSQL_URL)
_START_HINT = (
    "MariaDB must answer at GOMICROIM_TEST_MYSQL_URL (default 127.0.0.1:3306, root); "
    "start it with `scripts/services`"
)


def _mysql(sql: str) -> None:
    command = ["mysql", "--protocol=tcp", f"-h{_MYSQL.hostname}", f"-P{_MYSQL.port or 3306}"]
    command += [f"-u{_MYSQL.username or 'root'}", "-e", sql]
    if _MYSQL.password:
        command.insert(1, f"-p{_MYSQL.password}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        pytest.fail(f"{sql!r} failed: {result.stderr.strip()}; {_START_HINT}")


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy((_MYSQL.hostname or "127.0.0.1", _MYSQL.port or 3306)).start()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def server(proxy: TcpProxy, tmp_path: Path) -> Iterator[ServerProcess]:
    name = f"gomicroim_test_{secrets.token_hex(4)}"
    _mysql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    auth = _MYSQL.username or "root"
    if _MYSQL.password:
        auth += f":{_MYSQL.password}"
    process = ServerProcess(
        data_dir=tmp_path / "data",
        log_dir=tmp_path,
        env={
            "GOMICROIM__STORAGE__DATABASE_URL": f"mysql://{auth}@127.0.0.1:{proxy.port}/{name}",
            "GOMICROIM__STORAGE__POOL_MAX_SIZE": "4",
            "GOMICROIM__IDENTITY__JWT_SECRET": secrets.token_hex(32),
            # Caches would answer some reads without the database; this test wants to see it.
            "GOMICROIM__IDENTITY__DEVICE_CACHE_TTL_S": "0",
            "GOMICROIM__GROUPS__MEMBER_CACHE_TTL_S": "0",
        },
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()
        _mysql(f"DROP DATABASE IF EXISTS {name}")


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    # The client learns what to do, not how the server is wired.
    assert "127.0.0.1" not in response.text
    assert "mysql" not in response.text.lower()


async def wait_ready(api: Api, within_s: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if (await api.client.get("/readyz")).status_code == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz did not recover within {within_s:g} s")


async def test_database_outage_is_503_and_the_server_recovers_by_itself(
    server: ServerProcess, proxy: TcpProxy, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(server)
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    await api.send(alice, bob.id, "before the outage")
    conv = conversation_id(alice.id, bob.id)

    proxy.cut()

    attempts = {
        "send": api.send_raw(alice, bob.id, "during the outage", client_msg_id="outage-1"),
        "conversations": api.client.get("/api/v1/conversations", headers=alice.headers),
        "history": api.client.get(f"/api/v1/conversations/{conv}/messages", headers=bob.headers),
        "register": api.client.post(
            "/api/v1/auth/register",
            json={"username": f"new_{secrets.token_hex(3)}", "password": "long enough pw"},
        ),
        "login": api.client.post(
            "/api/v1/auth/login",
            json={
                "username": alice.username,
                "password": alice.password,
                "device_id": "other",
                "client_type": "web",
            },
        ),
    }
    for name, response in zip(attempts, await asyncio.gather(*attempts.values()), strict=True):
        assert response.status_code not in range(200, 300), name
        assert_unavailable(response)
    ready = await api.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] != "ok"
    assert "database" in ready.json()["checks"]["database"]

    proxy.restore()
    await wait_ready(api)

    resent = await api.send_raw(alice, bob.id, "after the outage", client_msg_id="outage-2")
    assert resent.status_code == 201, resent.text
    bodies = [m["body"] for m in await api.history(bob, conv)]
    assert bodies == ["before the outage", "after the outage"]
    assert [line for line in server.error_lines() if "unhandled error" in line] == []


async def test_an_outage_during_a_session_twice_in_a_row(
    server: ServerProcess, proxy: TcpProxy, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(server)
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    for round_ in range(2):
        proxy.cut()
        assert_unavailable(await api.send_raw(alice, bob.id, f"lost {round_}"))
        proxy.restore()
        await wait_ready(api)
        assert (await api.send_raw(alice, bob.id, f"kept {round_}")).status_code == 201
    conv = conversation_id(alice.id, bob.id)
    assert [m["body"] for m in await api.history(alice, conv)] == ["kept 0", "kept 1"]
