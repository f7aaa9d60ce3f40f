"""Redis frozen, killed, restarted empty and flushed under two replicas: 503, then recovery.

Runs its own ``redis-server`` (no persistence), never the machine's shared one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gomicroim.config import Settings
from gomicroim.errors import Forbidden
from tests.fakes.asgi import AsgiWebSocket
from tests.integration.replicas import Replica, auth, eventually, replicas
from tests.redis_support import private_redis

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def refused(replica: Replica, token: str) -> bool:
    answer = await replica.http.get("/api/v1/users/me", headers=auth(token))
    return answer.status_code == 401


async def ready(replica: Replica) -> bool:
    return (await replica.http.get("/readyz")).status_code == 200


async def test_replicas_answer_503_while_redis_is_gone_and_recover_its_state_when_it_returns(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    with private_redis(tmp_path) as server:
        async with replicas(make_settings, server.url, "gomicroim:") as start:
            a, b = await start("gw-a"), await start("gw-b")
            alice, bob = await a.register("alice"), await a.register("bob")
            alice_token, bob_token = await a.login("alice"), await a.login("bob")
            ended = await a.login("alice", device_id="old-laptop")
            await a.http.post("/api/v1/auth/logout", headers=auth(ended))
            group = await a.http.post(
                "/api/v1/groups", json={"name": "g", "member_ids": [bob]}, headers=auth(alice_token)
            )
            gid = group.json()["id"]
            # B caches the member set with Bob in it.
            await b.container.groups.service().membership_version(gid, bob)
            presence_a = a.container.presence.service()

            async with AsgiWebSocket(b.app, "/ws", token=bob_token) as socket:
                await socket.receive_json()
                assert [c.node_id for c in (await presence_a.online([bob]))[bob]] == ["gw-b"]

                # Frozen: connections stay open, nothing answers.
                server.pause()
                began = time.monotonic()
                frozen = await b.http.get("/api/v1/users/me", headers=auth(bob_token))
                waited_s = time.monotonic() - began
                # Killed: nothing listens.
                server.stop()
                gone = await b.http.get("/api/v1/users/me", headers=auth(bob_token))
                readiness = await b.http.get("/readyz")
                # A removal commits while Redis is gone: its invalidation cannot be sent.
                await a.container.groups.service().remove_member(gid, alice, bob)

                # Back, and empty: leases, presence, revocations are all gone from it.
                server.start()
                await eventually(lambda: ready(b))
                await eventually(lambda: ready(a))
                # B put its live socket back; A sees it again.
                await eventually(lambda: _online_on(presence_a, bob, "gw-b"))
                # The ended session was reloaded from the sessions table.
                await eventually(lambda: refused(b, ended))
                # B dropped its cached member sets on reconnecting: Bob is out there too.
                await eventually(lambda: _not_member(b, gid, bob))

                # FLUSHALL without a restart: the same recovery, found by the watch.
                server.flush()
                await eventually(lambda: _online_on(presence_a, bob, "gw-b"))
                await eventually(lambda: refused(a, ended))
                still = await b.http.get("/api/v1/users/me", headers=auth(bob_token))

    assert frozen.status_code == 503
    assert frozen.json()["error"]["code"] == "unavailable"
    assert waited_s < 4.0, f"a frozen Redis held the request {waited_s:.1f} s"
    assert gone.status_code == 503
    assert readiness.status_code == 503
    assert readiness.json()["checks"]["redis"].startswith("Redis at redis://127.0.0.1")
    assert still.status_code == 200


async def _online_on(presence: object, user_id: int, node_id: str) -> bool:
    online = await presence.online([user_id])  # type: ignore[attr-defined]
    return [c.node_id for c in online.get(user_id, [])] == [node_id]


async def _not_member(replica: Replica, gid: int, user_id: int) -> bool:
    try:
        await replica.container.groups.service().membership_version(gid, user_id)
    except Forbidden:
        return True
    await asyncio.sleep(0)
    return False
