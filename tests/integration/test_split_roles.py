"""Split roles in one test process: an API, a fan-out and two gateways on Kafka, Redis, MariaDB.

Each role is its own real container and app, with its own Kafka and Redis clients; they share
the database through one tortoise connection (one per process is what tortoise allows).
Messages cross between them only over tansu; presence is in Redis under a unique prefix.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncmy
import httpx
import pytest
from dependency_injector import providers
from litestar import Litestar

from gomicroim.app import create_app
from gomicroim.container import Container
from tests.conftest import MYSQL_URL
from tests.fakes.asgi import AsgiWebSocket, serving
from tests.integration.conftest import cluster_settings
from tests.integration.tansu import Tansu
from tests.redis_support import REDIS_URL, unique_prefix

pytestmark = [pytest.mark.integration, pytest.mark.mysql, pytest.mark.timeout(120)]

SECRET = "split-roles-test-secret-0123456789abcdef"
PASSWORD = "correct horse battery"
NODES = {"gw-1": [0], "gw-2": [1]}


async def _mysql(statement: str) -> None:
    parts = urlsplit(MYSQL_URL)
    try:
        conn = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            connect_timeout=5,
        )
    except OSError as exc:
        pytest.fail(f"MariaDB at {MYSQL_URL} is not reachable ({exc}); start it (scripts/services)")
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = f"gomicroim_test_{secrets.token_hex(4)}"
    await _mysql(f"CREATE DATABASE `{name}`")
    try:
        yield f"{MYSQL_URL.rstrip('/')}/{name}"
    finally:
        await _mysql(f"DROP DATABASE IF EXISTS `{name}`")


class Deployment:
    """The role processes, as containers and apps of one deployment."""

    def __init__(self, tmp_path: Path, bootstrap: str, database_url: str):
        self.build = cluster_settings(
            tmp_path,
            bootstrap,
            storage={"database_url": database_url},
            redis={"url": REDIS_URL, "key_prefix": unique_prefix()},
            kafka={"node_partitions": NODES, "push_partitions": 2},
        )

    def role(self, *roles: str, node_id: str = "", opens_database: bool = False) -> Litestar:
        # Every process of a cluster has a node id (the API's relay claims outbox rows by it).
        settings = self.build(roles=list(roles), node_id=node_id or "-".join(roles))
        container = Container(settings=settings, jwt_secret=SECRET)
        if not opens_database:
            # One tortoise connection per process: the API's; the others open Kafka and Redis.
            engines = [e for e in container.engines() if e.name != "database"]
            container.engines.override(providers.Object(engines))
        return create_app(settings, container)


async def _register(http: httpx.AsyncClient, name: str) -> str:
    username = f"{name}_{secrets.token_hex(3)}"
    registered = await http.post(
        "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    return username


async def _login(http: httpx.AsyncClient, username: str, device: str, client: str) -> Any:
    login = await http.post(
        "/api/v1/auth/login",
        json={
            "username": username,
            "password": PASSWORD,
            "device_id": device,
            "client_type": client,
        },
    )
    assert login.status_code == 200, login.text
    return login.json()


async def test_messages_cross_from_the_api_through_the_fanout_to_two_gateways(
    tmp_path: Path, tansu: Tansu, database_url: str
) -> None:
    deployment = Deployment(tmp_path, tansu.bootstrap, database_url)
    api_app = deployment.role("api", opens_database=True)
    fanout_app = deployment.role("fanout")
    gw1_app = deployment.role("gateway", node_id="gw-1")
    gw2_app = deployment.role("gateway", node_id="gw-2")

    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(serving(api_app))
        await stack.enter_async_context(serving(fanout_app))
        await stack.enter_async_context(serving(gw1_app))
        await stack.enter_async_context(serving(gw2_app))
        alice_name = await _register(http, "alice")
        alice = await _login(http, alice_name, "laptop", "app")
        alice_tablet = await _login(http, alice_name, "tablet", "web")
        bob = await _login(http, await _register(http, "bob"), "phone", "app")
        carol = await _login(http, await _register(http, "carol"), "phone", "web")
        bob_socket = await stack.enter_async_context(
            AsgiWebSocket(gw2_app, "/ws", token=bob["access_token"])
        )
        tablet_socket = await stack.enter_async_context(
            AsgiWebSocket(gw1_app, "/ws", token=alice_tablet["access_token"])
        )
        carol_socket = await stack.enter_async_context(
            AsgiWebSocket(gw1_app, "/ws", token=carol["access_token"])
        )
        hellos = [await s.receive_json() for s in (bob_socket, tablet_socket, carol_socket)]
        auth = {"Authorization": f"Bearer {alice['access_token']}"}

        single = await http.post(
            "/api/v1/messages",
            json={
                "to": bob["user_id"],
                "session_type": "single",
                "client_msg_id": "c1",
                "msg_type": "text",
                "body": "to bob on gw-2",
            },
            headers=auth,
        )
        bob_push = await bob_socket.receive_json()
        tablet_push = await tablet_socket.receive_json()
        group = await http.post(
            "/api/v1/groups",
            json={"name": "three", "member_ids": [bob["user_id"], carol["user_id"]]},
            headers=auth,
        )
        group_id = group.json()["id"]
        in_group = await http.post(
            "/api/v1/messages",
            json={
                "to": group_id,
                "session_type": "group",
                "client_msg_id": "g1",
                "msg_type": "text",
                "body": "to everyone",
            },
            headers=auth,
        )
        sockets = (bob_socket, tablet_socket, carol_socket)
        # Each member's device first gets the group's group_created system message.
        created_pushes = [await _next_message(s) for s in sockets]
        group_pushes = [await _next_message(s) for s in sockets]
        synced = await http.get(
            "/api/v1/sync", headers={"Authorization": f"Bearer {bob['access_token']}"}
        )

    assert [h["node_id"] for h in hellos] == ["gw-2", "gw-1", "gw-1"]
    assert single.status_code == 201
    assert bob_push["type"] == "message"
    assert bob_push["message"] == single.json()
    assert bob_push["user_seq"] == 1
    assert tablet_push["message"] == single.json()
    assert in_group.status_code == 201, in_group.text
    assert [p["message"]["msg_type"] for p in created_pushes] == ["system"] * 3
    created = created_pushes[0]["message"]["body"]
    assert json.loads(created)["event"] == "group_created"
    assert [p["message"]["body"] for p in group_pushes] == ["to everyone"] * 3
    assert [e["message"]["body"] for e in synced.json()["entries"]] == [
        "to bob on gw-2",
        created,
        "to everyone",
    ]


async def _next_message(socket: AsgiWebSocket) -> Any:
    while True:
        frame = await socket.receive_json()
        if frame["type"] == "message":
            return frame


# --- presence across nodes ---------------------------------------------------------------------


async def _next_of(socket: AsgiWebSocket, kind: str) -> Any:
    while True:
        frame = await socket.receive_json()
        if frame["type"] == kind:
            return frame


async def test_a_follower_on_one_gateway_hears_a_user_on_another(
    tmp_path: Path, tansu: Tansu, database_url: str
) -> None:
    deployment = Deployment(tmp_path, tansu.bootstrap, database_url)
    api_app = deployment.role("api", opens_database=True)
    gw1_app = deployment.role("gateway", node_id="gw-1")
    gw2_app = deployment.role("gateway", node_id="gw-2")

    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(serving(api_app))
        await stack.enter_async_context(serving(gw1_app))
        await stack.enter_async_context(serving(gw2_app))
        amy = await _login(http, await _register(http, "amy"), "laptop", "web")
        bob = await _login(http, await _register(http, "bob"), "phone", "web")
        eve = await _login(http, await _register(http, "eve"), "phone", "web")
        amy_auth = {"Authorization": f"Bearer {amy['access_token']}"}
        sent = await http.post(
            "/api/v1/messages",
            json={
                "to": bob["user_id"],
                "session_type": "single",
                "client_msg_id": "p1",
                "msg_type": "text",
                "body": "hi",
            },
            headers=amy_auth,
        )
        assert sent.status_code == 201, sent.text
        amy_ws = await stack.enter_async_context(
            AsgiWebSocket(gw1_app, "/ws", token=amy["access_token"])
        )
        await _next_of(amy_ws, "hello")
        await amy_ws.send_json(
            {"type": "subscribe_presence", "user_ids": [bob["user_id"], eve["user_id"]]}
        )
        await amy_ws.send_json({"type": "ping"})
        await _next_of(amy_ws, "pong")

        async with AsgiWebSocket(gw2_app, "/ws", token=eve["access_token"]) as eve_ws:
            await _next_of(eve_ws, "hello")
        async with AsgiWebSocket(gw2_app, "/ws", token=bob["access_token"]) as bob_ws:
            await _next_of(bob_ws, "hello")
            online = await _next_of(amy_ws, "presence")
            while_online = await http.get(
                "/api/v1/presence",
                params={"user_ids": f"{bob['user_id']},{eve['user_id']}"},
                headers=amy_auth,
            )
        offline = await _next_of(amy_ws, "presence")
        after = await http.get(
            "/api/v1/presence", params={"user_ids": str(bob["user_id"])}, headers=amy_auth
        )

    bob_id = bob["user_id"]
    assert online == {"type": "presence", "user_id": bob_id, "online": True, "last_seen_at": None}
    assert while_online.json() == {
        "presence": [{"user_id": bob_id, "online": True, "last_seen_at": None}]
    }
    assert offline["user_id"] == bob_id  # eve's connect and leave were never pushed
    assert offline["online"] is False
    assert isinstance(offline["last_seen_at"], int)
    assert after.json() == {
        "presence": [{"user_id": bob_id, "online": False, "last_seen_at": offline["last_seen_at"]}]
    }
