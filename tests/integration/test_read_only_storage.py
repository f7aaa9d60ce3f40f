"""A database that turns read-only: sends answer 503, readiness says so, recovery is automatic.

A real read-only flip of the data directory's mount is refused by Linux while SQLite holds its
files open for writing (see tests/e2e/test_storage_faults.py, which does the full-disk case on
a real tmpfs). Here the app's own SQLite connection is put into SQLite's read-only state
(``PRAGMA query_only``): every write then fails with SQLITE_READONLY, "attempt to write a
readonly database", the error a read-only file gives, and reads keep working, as they do on a
read-only disk. The app is the real one, on a real SQLite file, in this process.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection

from gomicroim.app import create_app
from gomicroim.config import Settings
from tests.fakes.asgi import serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PASSWORD = "correct horse battery"


async def user(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    registered = await client.post(
        "/api/v1/auth/register", json={"username": name, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post(
        "/api/v1/auth/login",
        json={"username": name, "password": PASSWORD, "device_id": "d1", "client_type": "web"},
    )
    assert login.status_code == 200, login.text
    tokens: dict[str, Any] = login.json()
    return tokens


async def send(client: httpx.AsyncClient, sender: dict[str, Any], to: int) -> httpx.Response:
    return await client.post(
        "/api/v1/messages",
        json={
            "to": to,
            "session_type": "single",
            "client_msg_id": uuid.uuid4().hex,
            "msg_type": "text",
            "body": "hello",
        },
        headers={"Authorization": f"Bearer {sender['access_token']}"},
    )


async def read_only(on: bool) -> None:
    await get_connection("default").execute_script(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


async def test_a_read_only_database_answers_503_then_recovers_by_itself(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        storage={"write_probe_interval_s": 0.1}, limits={"requests_per_second": 0}
    )
    # tortoise caches compiled statements per connection name for the process's life; a
    # MySQL test earlier in the session would leave "%s" statements for this SQLite app.
    EXECUTOR_CACHE.clear()
    async with serving(create_app(settings)) as client:
        alice, bob = await user(client, "alice"), await user(client, "bob")
        acknowledged = [(await send(client, alice, bob["user_id"])).json()["client_msg_id"]]

        await read_only(True)
        refused = [await send(client, alice, bob["user_id"]) for _ in range(3)]
        await asyncio.sleep(0.2)  # past the probe interval
        not_ready = await client.get("/readyz")
        history = await client.get(
            f"/api/v1/conversations/s:{alice['user_id']}:{bob['user_id']}/messages",
            params={"after_seq": 0},
            headers={"Authorization": f"Bearer {bob['access_token']}"},
        )

        await read_only(False)
        await asyncio.sleep(0.2)
        ready = await client.get("/readyz")
        after = await send(client, alice, bob["user_id"])
        acknowledged.append(after.json()["client_msg_id"])
        final = await client.get(
            f"/api/v1/conversations/s:{alice['user_id']}:{bob['user_id']}/messages",
            params={"after_seq": 0},
            headers={"Authorization": f"Bearer {bob['access_token']}"},
        )

    for response in refused:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable"
        assert "full or read-only" in response.json()["error"]["message"]
        assert int(response.headers["Retry-After"]) >= 1
    assert not_ready.status_code == 503
    assert "cannot store" in not_ready.json()["checks"]["database"]
    assert "readonly" in not_ready.json()["checks"]["database"]
    assert history.status_code == 200  # reads go on while nothing can be written
    assert ready.status_code == 200, ready.text
    assert after.status_code == 201, after.text
    assert [m["client_msg_id"] for m in final.json()["messages"]] == acknowledged
