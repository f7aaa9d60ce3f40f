"""Two replicas on one Redis: what a cluster shares through it reaches every replica at once.

Pushes between replicas need the Kafka bus (another adapter); these tests cover what Redis
makes shared: revoked sessions, presence, the "same device connected again" kick, and the
invalidation of cached member sets and device lists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from gomicroim.config import Settings
from gomicroim.errors import Forbidden
from tests.fakes.asgi import AsgiWebSocket, ConnectionClosed
from tests.integration.replicas import Start, auth, eventually, replicas
from tests.redis_support import unique_prefix

pytestmark = pytest.mark.integration


@pytest.fixture
async def start(make_settings: Callable[..., Settings], redis_url: str) -> AsyncIterator[Start]:
    async with replicas(make_settings, redis_url, unique_prefix()) as starter:
        yield starter


def text(to: int, client_msg_id: str, session_type: str = "single") -> dict[str, object]:
    return {
        "to": to,
        "session_type": session_type,
        "client_msg_id": client_msg_id,
        "msg_type": "text",
        "body": "hi",
    }


async def test_a_logout_on_one_replica_is_refused_on_the_other(start: Start) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    await a.register("alice")
    token = await a.login("alice")
    before = await b.http.get("/api/v1/users/me", headers=auth(token))

    logout = await a.http.post("/api/v1/auth/logout", headers=auth(token))
    after = await b.http.get("/api/v1/users/me", headers=auth(token))

    assert before.status_code == 200
    assert logout.status_code == 204
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "token_revoked"


async def test_a_logout_on_one_replica_closes_the_sessions_socket_on_the_other(
    start: Start,
) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    await a.register("alice")
    token = await a.login("alice")

    async with AsgiWebSocket(b.app, "/ws", token=token) as socket:
        await socket.receive_json()
        logout = await a.http.post("/api/v1/auth/logout", headers=auth(token))
        kick = await socket.receive_json()
        with pytest.raises(ConnectionClosed) as closed:
            await socket.receive_json()

    assert logout.status_code == 204
    assert kick["type"] == "kick"
    assert "logout" in kick["reason"]
    assert closed.value.code == 4401


async def test_a_socket_on_one_replica_is_online_for_the_other(start: Start) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    bob = await a.register("bob")
    token = await a.login("bob")

    async with AsgiWebSocket(b.app, "/ws", token=token) as socket:
        hello = await socket.receive_json()
        seen_by_a = await a.container.presence.service().online([bob])
    after = await a.container.presence.service().online([bob])

    assert hello["node_id"] == "gw-b"
    assert [(c.node_id, c.device_id) for c in seen_by_a[bob]] == [("gw-b", "phone")]
    assert after == {}


async def test_the_same_device_connecting_on_another_replica_kicks_the_old_socket(
    start: Start,
) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    bob = await a.register("bob")
    token = await a.login("bob")

    async with AsgiWebSocket(a.app, "/ws", token=token) as first:
        await first.receive_json()
        # The client reconnects through the load balancer and lands on the other replica.
        async with AsgiWebSocket(b.app, "/ws", token=token) as second:
            hello = await second.receive_json()
            kick = await first.receive_json()
            with pytest.raises(ConnectionClosed) as closed:
                await first.receive_json()
            online = await a.container.presence.service().online([bob])

    assert hello["node_id"] == "gw-b"
    assert kick == {"type": "kick", "reason": "replaced by a new connection of this device"}
    assert closed.value.code == 4409
    assert [c.node_id for c in online[bob]] == ["gw-b"]


async def test_a_member_removed_on_one_replica_can_send_nothing_on_the_other(
    start: Start,
) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    await a.register("alice")
    bob = await a.register("bob")
    alice_token, bob_token = await a.login("alice"), await a.login("bob")
    group = await a.http.post(
        "/api/v1/groups", json={"name": "team", "member_ids": [bob]}, headers=auth(alice_token)
    )
    gid = group.json()["id"]
    # Bob's first send through B caches the member set there.
    first = await b.http.post(
        "/api/v1/messages", json=text(gid, "m1", "group"), headers=auth(bob_token)
    )

    removed = await a.http.delete(f"/api/v1/groups/{gid}/members/{bob}", headers=auth(alice_token))
    second = await b.http.post(
        "/api/v1/messages", json=text(gid, "m2", "group"), headers=auth(bob_token)
    )

    assert first.status_code == 201
    assert removed.status_code == 204
    assert second.status_code == 403
    assert second.json()["error"]["code"] == "not_a_member"
    # And the fan-out on B no longer counts him among the recipients.
    members = await b.container.groups.service().member_set(gid)
    assert bob not in members.user_ids
    with pytest.raises(Forbidden):
        await b.container.groups.service().membership_version(gid, bob)


async def test_a_block_on_one_replica_refuses_sends_through_the_other(start: Start) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    alice, bob = await a.register("alice"), await a.register("bob")
    alice_token, bob_token = await a.login("alice"), await a.login("bob")
    # Alice's first send through B caches there that Bob has blocked nobody.
    first = await b.http.post("/api/v1/messages", json=text(bob, "m1"), headers=auth(alice_token))
    assert first.status_code == 201

    blocked = await a.http.post(f"/api/v1/users/me/blocks/{alice}", headers=auth(bob_token))
    assert blocked.status_code == 201
    blocks_b = b.container.identity.blocks_service()
    # Pub/sub is asynchronous: B drops its cached list when the event arrives, within
    # milliseconds (the cached list would otherwise live 600 s here).
    await eventually(lambda: blocks_b.is_blocked(bob, alice), timeout_s=1.0)
    refused = await b.http.post("/api/v1/messages", json=text(bob, "m2"), headers=auth(alice_token))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "blocked"

    unblocked = await a.http.delete(f"/api/v1/users/me/blocks/{alice}", headers=auth(bob_token))
    assert unblocked.status_code == 204

    async def unblocked_on_b() -> bool:
        return not await blocks_b.is_blocked(bob, alice)

    await eventually(unblocked_on_b, timeout_s=1.0)
    again = await b.http.post("/api/v1/messages", json=text(bob, "m2"), headers=auth(alice_token))
    assert again.status_code == 201
    assert again.json()["seq"] == 2


async def test_a_device_logged_in_on_one_replica_gets_its_strategy_on_the_other(
    start: Start,
) -> None:
    a, b = await start("gw-a"), await start("gw-b")
    bob = await a.register("bob")
    await a.login("bob", device_id="phone", client_type="app")
    identity_b = b.container.identity.service()
    selector_b = b.container.fanout.selector()
    cached = await identity_b.devices_of({bob})

    await a.login("bob", device_id="browser", client_type="web")

    async def both_devices() -> bool:
        # Pub/sub is asynchronous: B drops its cached list when the event arrives, within
        # milliseconds (the cached list would otherwise live 600 s here).
        devices = (await identity_b.devices_of({bob}))[bob]
        return {(d.device_id, d.client_type) for d in devices} == {
            ("browser", "web"),
            ("phone", "app"),
        }

    await eventually(both_devices, timeout_s=1.0)
    devices = (await identity_b.devices_of({bob}))[bob]
    assert [d.device_id for d in cached[bob]] == ["phone"]
    # The app device still makes him a write fan-out recipient; the web one gets pushes too.
    assert selector_b.choose(devices, None).name == "write"


async def test_readiness_names_redis_and_metrics_show_the_caches(start: Start) -> None:
    a = await start("gw-a")

    ready = await a.http.get("/readyz")
    metrics = (await a.http.get("/metrics")).text

    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"] == "ok"
    for cache in (
        "groups_members",
        "identity_devices",
        "identity_blocks",
        "identity_verified_tokens",
    ):
        assert f'gomicroim_cache_max_size{{cache="{cache}"}}' in metrics
