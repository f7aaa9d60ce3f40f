"""Join-time history: a group member sees the messages of their own membership spells only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest

from tests.e2e.client import Api, Json, User, assert_error
from tests.e2e.conftest import StartServer
from tests.e2e.devices import (
    Device,
    Devices,
    create_group_settled,
    key,
    opened_devices,
    sync_all,
    sync_until,
)
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def add(api: Api, owner: User, group_id: int, user: User) -> None:
    response = await api.client.post(
        f"/api/v1/groups/{group_id}/members", json={"user_ids": [user.id]}, headers=owner.headers
    )
    assert response.status_code == 200, response.text


async def leave(api: Api, user: User, group_id: int) -> None:
    response = await api.client.delete(
        f"/api/v1/groups/{group_id}/members/{user.id}", headers=user.headers
    )
    assert response.status_code == 204, response.text


async def send(api: Api, sender: User, group_id: int, *bodies: str) -> list[int]:
    return [(await api.send_group(sender, group_id, body))["seq"] for body in bodies]


def bodies(messages: list[Json]) -> list[str]:
    """The bodies of the users' messages (system messages left out)."""
    return [m["body"] for m in messages if m["msg_type"] != "system"]


def events(messages: list[Json]) -> list[str]:
    """The events of the system messages."""
    return [json.loads(m["body"])["event"] for m in messages if m["msg_type"] == "system"]


async def group_sync(api: Api, user: User, conv: str, count: int) -> list[str]:
    """The user's sync entries of ``conv`` once ``count`` have arrived (and no more came)."""
    await sync_until(api, user, count)
    entries, _ = await sync_all(api, user)
    return bodies([e["message"] for e in entries if e["message"]["conversation_id"] == conv])


async def pushed(device: Device, conv: str, seq: int) -> list[int]:
    """The seqs of ``conv`` pushed to ``device`` once ``seq`` has arrived."""
    await device.wait_until(lambda: (conv, seq) in device.message_keys(), f"push of {conv}#{seq}")
    await device.ping()
    return [s for c, s in device.message_keys() if c == conv]


async def test_a_member_added_later_sees_nothing_from_before_they_joined(
    api: Api, server: ServerProcess, devices: Devices
) -> None:
    owner = await api.register_and_login("owner")
    early = await api.register_and_login("early")
    late = await api.register_and_login("late")
    group = await api.create_group(owner, "g", [early])
    conv = f"g:{group['id']}"
    late_device = await devices.open(server, late)

    await send(api, owner, group["id"], "before-1", "before-2", "before-3")
    await add(api, owner, group["id"], late)

    # Seq 1 is group_created, 2..4 the sends; their window opens with their own member_added.
    assert events(await api.history(late, conv)) == ["member_added"]
    entry = await api.conversation(late, conv)
    assert entry is not None
    assert (entry["last_message"]["seq"], entry["unread"], entry["read_seq"]) == (5, 1, 4)
    assert (await api.conversations(late))["total_unread"] == 1

    [after] = await send(api, early, group["id"], "after-1")
    assert bodies(await api.history(late, conv)) == ["after-1"]
    page = await api.page(late, conv, before_seq=after)
    assert (events(page["messages"]), page["has_more"]) == (["member_added"], False)
    entry = await api.conversation(late, conv)
    assert entry is not None
    assert (entry["last_message"]["body"], entry["unread"]) == ("after-1", 2)
    assert await group_sync(api, late, conv, 2) == ["after-1"]
    assert await pushed(late_device, conv, after) == [after - 1, after]
    # The members from the start keep the whole history.
    assert bodies(await api.history(early, conv)) == ["before-1", "before-2", "before-3", "after-1"]


async def test_leaving_and_rejoining_starts_a_new_window(
    api: Api, server: ServerProcess, devices: Devices
) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    group = await create_group_settled(api, server, owner, "g", [ann])
    conv = f"g:{group['id']}"
    ann_device = await devices.open(server, ann)

    [first] = await send(api, owner, group["id"], "first")
    assert await pushed(ann_device, conv, first) == [first]
    await leave(api, ann, group["id"])
    # A former member reads nothing (groups.former_member_history = "none"), as an outsider.
    refused = await api.client.get(f"/api/v1/conversations/{conv}/messages", headers=ann.headers)
    assert_error(refused, 403, "not_a_member")
    assert await api.conversation(ann, conv) is None

    await send(api, owner, group["id"], "away-1", "away-2")
    await add(api, owner, group["id"], ann)
    [back] = await send(api, owner, group["id"], "back")

    # 1 created, 2 first, 3 member_left, 4-5 away, 6 member_added (ann's new window), 7 back.
    assert bodies(await api.history(ann, conv)) == ["back"]
    assert events(await api.history(ann, conv)) == ["member_added"]
    entry = await api.conversation(ann, conv)
    assert entry is not None
    assert (entry["last_message"]["body"], entry["unread"]) == ("back", 2)
    # No push while away; the timeline holds what came in either spell, nothing between.
    assert await pushed(ann_device, conv, back) == [first, back - 1, back]
    assert await group_sync(api, ann, conv, 4) == ["first", "back"]


async def test_with_new_members_see_history_a_later_member_sees_everything(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(start_server(GOMICROIM__GROUPS__NEW_MEMBERS_SEE_HISTORY="true"))
    owner = await api.register_and_login("owner")
    late = await api.register_and_login("late")
    group = await api.create_group(owner, "g", [])
    conv = f"g:{group['id']}"

    await send(api, owner, group["id"], "one", "two")
    await add(api, owner, group["id"], late)

    assert bodies(await api.history(late, conv)) == ["one", "two"]
    assert events(await api.history(late, conv)) == ["group_created", "member_added"]
    entry = await api.conversation(late, conv)
    assert entry is not None
    assert events([entry["last_message"]]) == ["member_added"]


async def test_a_former_member_reads_only_their_spells_with_while_member(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(start_server(GOMICROIM__GROUPS__FORMER_MEMBER_HISTORY="while_member"))
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    outsider = await api.register_and_login("outsider")
    group = await api.create_group(owner, "g", [ann])
    conv = f"g:{group['id']}"

    await send(api, owner, group["id"], "one", "two")
    removed = await api.client.delete(
        f"/api/v1/groups/{group['id']}/members/{ann.id}", headers=owner.headers
    )
    assert removed.status_code == 204, removed.text
    await send(api, owner, group["id"], "after-removal")

    assert bodies(await api.history(ann, conv)) == ["one", "two"]
    newest = await api.page(ann, conv)
    assert bodies(newest["messages"]) == ["one", "two"]
    refused = await api.client.get(
        f"/api/v1/conversations/{conv}/messages", headers=outsider.headers
    )
    assert_error(refused, 403, "not_a_member")
    denied = await api.client.post(
        f"/api/v1/conversations/{conv}/read", json={"seq": 1}, headers=ann.headers
    )
    assert_error(denied, 403, "not_a_member")

    await add(api, owner, group["id"], ann)
    await send(api, owner, group["id"], "back")
    assert bodies(await api.history(ann, conv)) == ["one", "two", "back"]
    # 1 created, 2-3, 4 member_removed, 5 after-removal, 6 member_added, 7 back: both spells.
    assert [key(m)[1] for m in await api.history(ann, conv)] == [1, 2, 3, 6, 7]
