"""Blocks and ``chat.single_chat_policy`` over a real server: refused sends leave no trace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.e2e.client import Api, Json, User, assert_error, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Devices, opened_devices, sync_all, sync_until
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

BLOCKS = "/api/v1/users/me/blocks"


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def block(api: Api, by: User, user_id: int) -> httpx.Response:
    return await api.client.post(f"{BLOCKS}/{user_id}", headers=by.headers)


async def unblock(api: Api, by: User, user_id: int) -> httpx.Response:
    return await api.client.delete(f"{BLOCKS}/{user_id}", headers=by.headers)


async def listed(api: Api, user: User, **params: int | str) -> Json:
    response = await api.client.get(BLOCKS, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def test_a_blocked_sender_is_refused_and_the_blocker_sees_nothing_new(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    alice, bob = await api.register_and_login("alice"), await api.register_and_login("bob")
    conv = conversation_id(alice.id, bob.id)
    bob_device = await devices.open(server, bob)
    first = await api.send(alice, bob.id, "before the block")
    await bob_device.wait_frames("message", 1)
    bob_entries, _ = await sync_until(api, bob, 1)

    blocked = await block(api, bob, alice.id)
    assert blocked.status_code == 201, blocked.text
    assert blocked.json()["user_id"] == alice.id

    refused = await api.send_raw(alice, bob.id, "after the block", client_msg_id="blocked-1")
    assert_error(refused, 403, "blocked", field="to")
    # The blocker cannot write to the user they blocked either.
    assert_error(await api.send_raw(bob, alice.id, "hey"), 403, "you_blocked_user", field="to")

    assert [m["seq"] for m in await api.history(bob, conv)] == [1]
    entry = await api.conversation(bob, conv)
    assert entry is not None
    assert (entry["last_seq"], entry["unread"]) == (1, 1)
    assert entry["last_message"]["body"] == first["body"]

    assert (await unblock(api, bob, alice.id)).status_code == 204
    after = await api.send(alice, bob.id, "after the unblock", client_msg_id="blocked-1")
    # The refused send used up no seq, and its client_msg_id is free.
    assert after["seq"] == 2
    await bob_device.wait_frames("message", 2)
    # Nothing was pushed for the refused send: the socket saw seq 1, then the new seq 2.
    assert [f["message"]["seq"] for f in bob_device.messages()] == [1, 2]
    entries, _ = await sync_all(api, bob)
    assert len(entries) == len(bob_entries) + 1
    reply = await api.send(bob, alice.id, "welcome back")
    assert reply["seq"] == 3


async def test_blocking_and_unblocking_are_idempotent_and_listed(api: Api) -> None:
    me, ann, ben = [await api.register_and_login(n) for n in ("me", "ann", "ben")]

    first = await block(api, me, ann.id)
    again = await block(api, me, ann.id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert set(first.json()) == {"user_id", "blocked_at"}
    assert (await block(api, me, ben.id)).status_code == 201

    everything = await listed(api, me)
    assert [b["user_id"] for b in everything["blocks"]] == [ben.id, ann.id]
    assert everything["blocks"][1]["blocked_at"] == first.json()["blocked_at"]
    assert everything["next_cursor"] is None
    page = await listed(api, me, limit=1)
    assert [b["user_id"] for b in page["blocks"]] == [ben.id]
    rest = await listed(api, me, limit=1, cursor=page["next_cursor"])
    assert ([b["user_id"] for b in rest["blocks"]], rest["next_cursor"]) == ([ann.id], None)
    # A block is the blocker's own: the blocked user's list is empty.
    assert (await listed(api, ann))["blocks"] == []

    assert (await unblock(api, me, ann.id)).status_code == 204
    assert (await unblock(api, me, ann.id)).status_code == 204
    assert [b["user_id"] for b in (await listed(api, me))["blocks"]] == [ben.id]


async def test_self_blocks_unknown_users_and_bad_cursors_are_refused(api: Api) -> None:
    me = await api.register_and_login("me")

    assert_error(await block(api, me, me.id), 400, "cannot_block_self")
    assert_error(await block(api, me, 9_000_000_000), 404, "user_not_found")
    assert_error(await unblock(api, me, 9_000_000_000), 404, "user_not_found")
    assert_error(await block(api, me, 0), 400)
    bad = await api.client.get(BLOCKS, params={"cursor": "garbage"}, headers=me.headers)
    assert_error(bad, 400, "invalid_field", field="cursor")
    assert_error(await api.client.get(BLOCKS), 401)
    assert (await listed(api, me))["blocks"] == []


async def test_a_block_leaves_group_messages_alone(api: Api) -> None:
    owner, blocked = await api.register_and_login("own"), await api.register_and_login("blk")
    gid = (await api.create_group(owner, "g", [blocked]))["id"]
    assert (await block(api, owner, blocked.id)).status_code == 201

    sent = await api.send_group(blocked, gid, "still in the group")

    history = await api.history(owner, f"g:{gid}")
    assert [m["body"] for m in history if m["msg_type"] == "text"] == [sent["body"]]


async def test_shared_group_policy_admits_group_mates_only(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(start_server(GOMICROIM__CHAT__SINGLE_CHAT_POLICY="shared_group"))
    alice, bob, stranger = [await api.register_and_login(n) for n in ("ali", "bob", "str")]
    gid = (await api.create_group(alice, "g", [bob]))["id"]

    assert_error(await api.send_raw(alice, stranger.id), 403, "no_shared_group", field="to")
    assert_error(await api.send_raw(stranger, alice.id), 403, "no_shared_group", field="to")
    assert (await api.conversations(stranger))["conversations"] == []
    sent = await api.send(alice, bob.id, "we share a group")
    assert sent["seq"] == 1

    left = await api.client.delete(f"/api/v1/groups/{gid}/members/{bob.id}", headers=bob.headers)
    assert left.status_code == 204, left.text
    # The conversation stays readable, but with no group in common it takes no new messages.
    assert_error(await api.send_raw(bob, alice.id), 403, "no_shared_group")
    assert [m["seq"] for m in await api.history(bob, conversation_id(alice.id, bob.id))] == [1]
    # Blocks apply under this policy too.
    await api.create_group(alice, "g2", [bob])
    assert (await block(api, alice, bob.id)).status_code == 201
    assert_error(await api.send_raw(bob, alice.id), 403, "blocked")
