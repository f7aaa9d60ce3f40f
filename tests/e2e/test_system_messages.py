"""System messages over a real server: every group change is a ``system`` message.

Members' devices get it as a ``message`` push, it is in the group's history and in app
users' ``/sync``, in seq order; clients still cannot send one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from tests.e2e.client import Api, Json, assert_error
from tests.e2e.devices import Device, Devices, opened_devices, sync_until
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def events_of(messages: list[Json]) -> list[tuple[int, Json]]:
    """(sender_id, decoded body) of the system messages among ``messages``."""
    return [(m["sender_id"], json.loads(m["body"])) for m in messages if m["msg_type"] == "system"]


def pushed(device: Device, conv: str) -> list[Json]:
    return [f["message"] for f in device.messages() if f["message"]["conversation_id"] == conv]


async def ok(response_call: object, status: int = 200) -> Json:
    response = await response_call  # type: ignore[misc]
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


async def test_every_group_change_is_pushed_kept_in_history_and_synced(
    api: Api, server: ServerProcess, devices: Devices
) -> None:
    owner = await api.register_and_login("own")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben", client_type="web")
    cat = await api.register_and_login("cat")
    own_dev, ann_dev, ben_dev, cat_dev = [
        await devices.open(server, u) for u in (owner, ann, ben, cat)
    ]
    http = api.client
    gid = (await api.create_group(owner, "Team", [ann, ben]))["id"]
    conv = f"g:{gid}"
    url = f"/api/v1/groups/{gid}"
    until = int(time.time() * 1000) + 3_600_000

    admin = {"role": "admin"}
    await ok(http.put(f"{url}/members/{ann.id}/role", json=admin, headers=owner.headers))
    await ok(http.post(f"{url}/members", json={"user_ids": [cat.id]}, headers=ann.headers))
    await ok(http.post(f"{url}/members/{cat.id}/mute", json={"until": until}, headers=ann.headers))
    await ok(http.delete(f"{url}/members/{cat.id}/mute", headers=ann.headers))
    await ok(http.patch(url, json={"name": "Crew", "muted": True}, headers=ann.headers))
    await ok(http.delete(f"{url}/members/{ben.id}", headers=ann.headers), 204)
    await ok(http.delete(f"{url}/members/{cat.id}", headers=cat.headers), 204)
    await ok(http.post(f"{url}/transfer", json={"user_id": ann.id}, headers=owner.headers))
    await ok(http.delete(url, headers=ann.headers))

    expected = [
        (owner.id, {"event": "group_created", "actor": owner.id, "name": "Team",
                    "targets": sorted([ann.id, ben.id])}),
        (owner.id, {"event": "role_changed", "actor": owner.id, "target": ann.id,
                    "role": "admin"}),
        (ann.id, {"event": "member_added", "actor": ann.id, "targets": [cat.id]}),
        (ann.id, {"event": "member_muted", "actor": ann.id, "target": cat.id, "until": until}),
        (ann.id, {"event": "member_unmuted", "actor": ann.id, "target": cat.id}),
        (ann.id, {"event": "group_renamed", "actor": ann.id, "name": "Crew"}),
        (ann.id, {"event": "group_muted", "actor": ann.id}),
        (ann.id, {"event": "member_removed", "actor": ann.id, "targets": [ben.id]}),
        (cat.id, {"event": "member_left", "actor": cat.id}),
        (owner.id, {"event": "ownership_transferred", "actor": owner.id, "from": owner.id,
                    "to": ann.id}),
        (ann.id, {"event": "group_dissolved", "actor": ann.id}),
    ]  # fmt: skip
    every = list(range(1, len(expected) + 1))

    # History, read by a member after the dissolution: every change in seq order.
    history = await api.history(owner, conv)
    assert events_of(history) == expected
    assert [m["seq"] for m in history] == every
    for message in history:
        event = json.loads(message["body"])["event"]
        assert message["client_msg_id"].startswith(f"sys:{event}:{gid}:"), message
    # Pushes: the members' devices, the actor's own included, as `message` frames in order.
    for device in (own_dev, ann_dev):
        await device.wait_until(lambda d=device: len(pushed(d, conv)) >= len(every), "all")
        assert pushed(device, conv) == history
    # Ben (web) heard everything up to his removal; the removal itself happened after it.
    await own_dev.ping()
    await ben_dev.ping()
    assert pushed(ben_dev, conv) == history[:7]
    # Cat was connected before joining and hears their own member_added, up to leaving.
    await cat_dev.ping()
    assert [m["seq"] for m in pushed(cat_dev, conv)] == [3, 4, 5, 6, 7, 8]
    # /sync (app devices): the same messages with contiguous user seqs.
    entries, _ = await sync_until(api, owner, len(every))
    assert [e["message"] for e in entries] == history
    cat_entries, _ = await sync_until(api, cat, 6)
    assert [e["message"]["seq"] for e in cat_entries] == [3, 4, 5, 6, 7, 8]
    assert events_of([cat_entries[0]["message"]])[0][1]["event"] == "member_added"
    # The list shows the last change as the last message; others' changes count as unread.
    entry = await api.conversation(owner, conv)
    assert entry is not None
    assert entry["last_message"]["msg_type"] == "system"
    assert json.loads(entry["last_message"]["body"])["event"] == "group_dissolved"
    assert (entry["last_seq"], entry["dissolved"]) == (len(every), True)
    # The owner's read position is at their own last action (the transfer, seq 10).
    assert entry["unread"] == 1
    assert await api.conversation(ben, conv) is None


async def test_a_new_member_is_told_of_their_own_joining_and_it_is_unread(
    api: Api, server: ServerProcess, devices: Devices
) -> None:
    owner = await api.register_and_login("own")
    new = await api.register_and_login("new", client_type="web")
    gid = (await api.create_group(owner, "Team", []))["id"]
    await api.send_group(owner, gid, "before you came")
    device = await devices.open(server, new)

    await ok(
        api.client.post(
            f"/api/v1/groups/{gid}/members", json={"user_ids": [new.id]}, headers=owner.headers
        )
    )

    await device.wait_frames("message", 1)
    [frame] = device.messages()
    assert frame["message"]["seq"] == 3
    assert json.loads(frame["message"]["body"]) == {
        "event": "member_added",
        "actor": owner.id,
        "targets": [new.id],
    }
    entry = await api.conversation(new, f"g:{gid}")
    assert entry is not None
    assert (entry["last_seq"], entry["read_seq"], entry["unread"]) == (3, 2, 1)


async def test_a_client_cannot_send_a_system_message(api: Api) -> None:
    owner = await api.register_and_login("own")
    ann = await api.register_and_login("ann")
    gid = (await api.create_group(owner, "Team", [ann]))["id"]
    body = json.dumps({"event": "member_added", "actor": owner.id, "targets": [ann.id]})

    refused = await api.send_raw(owner, gid, body, session_type="group", msg_type="system")

    assert_error(refused, 400, "msg_type_not_allowed")
    assert [m["msg_type"] for m in await api.history(ann, f"g:{gid}")] == ["system"]
