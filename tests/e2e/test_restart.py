"""A graceful restart on the same data directory loses nothing and keeps sessions as they were."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.client import Api, User, assert_error, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.server import GRACEFUL_EXIT, ServerProcess

pytestmark = pytest.mark.e2e


async def visible_state(api: Api, users: list[User], group_id: int, convs: list[str]) -> Any:
    """What the users see: profiles, the group, conversation lists and histories."""
    owner = users[0]
    state: dict[str, Any] = {}
    for user in users:
        me = await api.client.get("/api/v1/users/me", headers=user.headers)
        assert me.status_code == 200, me.text
        state[f"me {user.id}"] = me.json()
        state[f"conversations {user.id}"] = await api.conversations(user)
    for path in (f"/api/v1/groups/{group_id}", f"/api/v1/groups/{group_id}/members"):
        response = await api.client.get(path, headers=owner.headers)
        assert response.status_code == 200, response.text
        state[path] = response.json()
    for conv in convs:
        state[f"history {conv}"] = await api.history(owner, conv)
    return state


async def test_restart_keeps_users_groups_messages_reads_and_sessions(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    server = start_server()
    api = connect(server)
    alice = await api.register_and_login("alice", client_type="web")
    bob = await api.register_and_login("bob", client_type="app")
    carol = await api.register_and_login("carol", client_type="desktop")
    group = await api.create_group(alice, "keepers", [bob, carol])
    single = conversation_id(alice.id, bob.id)
    in_group = f"g:{group['id']}"

    kept = await api.send(alice, bob.id, "survives", client_msg_id="before-restart")
    for n in range(3):
        await api.send(bob, alice.id, f"reply {n}")
        await api.send_group(carol, group["id"], f"group {n}")
    await api.mark_read(alice, single, 3)
    await api.mark_read(bob, in_group, 2)
    gone = await api.login(bob.username, device_id="old-tablet")
    logout = await api.client.post("/api/v1/auth/logout", headers=gone.headers)
    assert logout.status_code == 204

    users = [alice, bob, carol]
    before = await visible_state(api, users, group["id"], [single, in_group])

    await asyncio.to_thread(server.restart)

    # Tokens issued before the restart still work: the signing secret lives in the data dir.
    assert (server.data_dir / "jwt_secret").is_file()
    after = await visible_state(api, users, group["id"], [single, in_group])
    assert after == before
    alice_entry = await api.conversation(alice, single)
    assert alice_entry is not None
    assert (alice_entry["last_seq"], alice_entry["read_seq"], alice_entry["unread"]) == (4, 3, 1)

    # A session ended before the restart stays ended.
    assert_error(
        await api.client.get("/api/v1/users/me", headers=gone.headers), 401, "token_revoked"
    )
    stale = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": gone.refresh_token}
    )
    assert_error(stale, 401, "invalid_refresh_token")

    # Refresh tokens from before the restart rotate; passwords still verify.
    refreshed = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": carol.refresh_token}
    )
    assert refreshed.status_code == 200, refreshed.text
    relogin = await api.login(bob.username, device_id="new-phone")
    assert relogin.id == bob.id

    # Seqs continue where they were; an idempotent retry still finds the pre-restart message.
    retry = await api.send_raw(alice, bob.id, "survives", client_msg_id="before-restart")
    assert retry.status_code == 200
    assert retry.json() == kept
    assert (await api.send(alice, bob.id, "after"))["seq"] == 5
    # Seq 1 of the group is its group_created system message.
    assert (await api.send_group(alice, group["id"], "after"))["seq"] == 5
    assert [m["seq"] for m in await api.history(carol, in_group)] == [1, 2, 3, 4, 5]

    assert server.stop() in GRACEFUL_EXIT, server.log_tail()


async def test_acknowledged_messages_survive_a_crash(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    server = start_server()
    api = connect(server)
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    group = await api.create_group(alice, "g", [bob])
    acked = await asyncio.gather(
        *(api.send(alice, bob.id, f"single {n}") for n in range(20)),
        *(api.send_group(bob, group["id"], f"group {n}") for n in range(20)),
    )
    await api.mark_read(bob, conversation_id(alice.id, bob.id), 7)
    logout = await api.client.post("/api/v1/auth/logout", headers=alice.headers)
    assert logout.status_code == 204

    # SIGKILL: no graceful shutdown, nothing flushed on the way out.
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)

    single = await api.history(bob, conversation_id(alice.id, bob.id))
    in_group = [m for m in await api.history(bob, f"g:{group['id']}") if m["msg_type"] != "system"]
    assert sorted(single + in_group, key=lambda m: (m["conversation_id"], m["seq"])) == sorted(
        acked, key=lambda m: (m["conversation_id"], m["seq"])
    )
    entry = await api.conversation(bob, conversation_id(alice.id, bob.id))
    assert entry is not None
    assert (entry["last_seq"], entry["read_seq"], entry["unread"]) == (20, 7, 13)
    assert_error(
        await api.client.get("/api/v1/users/me", headers=alice.headers), 401, "token_revoked"
    )


async def test_a_session_ended_just_before_a_restart_stays_ended(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    # Short-lived access tokens: the restart takes longer than their lifetime, which is exactly
    # when the server must not forget that the session was ended.
    server = start_server(GOMICROIM__IDENTITY__ACCESS_TTL_S="1")
    api = connect(server)
    alice = await api.register_and_login("alice")
    logout = await api.client.post("/api/v1/auth/logout", headers=alice.headers)
    assert logout.status_code == 204

    await asyncio.to_thread(server.restart)

    # Either code is right (revoked, or expired by now); accepting the token is not.
    after = await api.client.get("/api/v1/users/me", headers=alice.headers)
    assert assert_error(after, 401)["code"] in {"token_revoked", "token_expired"}
    stale = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token}
    )
    assert_error(stale, 401, "invalid_refresh_token")
