"""A real server on a Redis of the test's own that dies: WebSocket upgrades get 503, then work.

The gateway needs Redis to check a token's session and to record presence; without it an
upgrade is answered like any request that needs a missing engine (503, ``unavailable``,
``Retry-After``), never with a crash or a socket that opens and dies; once Redis is back the
same client connects, and a session ended while Redis was away stays ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.client import Api, assert_error
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess
from tests.e2e.test_gateway import refused_upgrade
from tests.e2e.test_operator_controls import gomicroim
from tests.redis_support import PrivateRedis, private_redis, unique_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    (tmp_path / "redis").mkdir()
    with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def server(redis: PrivateRedis, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path / "data",
        tmp_path,
        env={
            "GOMICROIM__REDIS__URL": redis.url,
            "GOMICROIM__REDIS__KEY_PREFIX": unique_prefix(),
            "GOMICROIM__REDIS__CHECK_INTERVAL_S": "0.2",
            "GOMICROIM__SERVER__NODE_ID": "gw-redis-outage",
        },
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def cut_off(server: ServerProcess) -> ServerProcess:
    """``server``'s settings without Redis, for an operator command."""
    copy = ServerProcess(server.data_dir, server.log_dir, env=dict(server.env))
    for key in ("GOMICROIM__REDIS__URL", "GOMICROIM__SERVER__NODE_ID"):
        copy.env.pop(key)
    return copy


async def _until_ready(server: ServerProcess, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready again after Redis returned"
            await asyncio.sleep(0.1)


async def test_an_upgrade_while_redis_is_down_gets_503_and_works_once_it_is_back(
    redis: PrivateRedis, server: ServerProcess, devices: Devices
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        api = Api(client)
        ann = await api.register_and_login("ann", client_type="app")
        tablet = await api.login(ann.username, device_id="tablet", client_type="app")
        bo = await api.register_and_login("bo", client_type="app")
        bos = await devices.open(server, bo)

        redis.stop()
        began = time.monotonic()
        refused = await refused_upgrade(server, ann)
        waited_s = time.monotonic() - began
        # A logout needs Redis to tell every replica: refused, so nothing half-happens.
        logout = await client.post("/api/v1/auth/logout", headers=tablet.headers)
        # Bo's sessions end in the database while this server cannot hear of it (as when
        # another replica still reaching its Redis ends them): an operator command run
        # without the Redis settings. With them it would refuse, as the logout did.
        disabled = gomicroim(cut_off(server), "users", "disable", bo.username)

        redis.start()
        await _until_ready(server)
        device = await devices.open(server, ann)
        await device.ping()
        closed = await bos.wait_closed(within_s=10)
        me = await client.get("/api/v1/users/me", headers=bo.headers)

    assert_error(refused, 503, "unavailable")
    assert int(refused.headers["retry-after"]) >= 1
    assert waited_s < 4.0, f"the refusal took {waited_s:.1f} s"
    assert_error(logout, 503, "unavailable")
    assert disabled.returncode == 0, disabled.stderr
    assert "1 sessions ended" in disabled.stdout
    assert device.hello["user_id"] == ann.id
    # The revocation made during the gap is honoured once Redis is back.
    assert closed is not None
    assert (closed.code, closed.reason) == (4401, "token_revoked")
    assert_error(me, 401, "token_revoked")
    assert not [line for line in server.error_lines() if "Traceback" in line], server.log_tail()
