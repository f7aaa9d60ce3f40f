"""Recall, edit and delete for me over a real server, as app and web devices see them.

Online devices get ``recall`` / ``edit`` frames (never the device that made the change);
an app that was offline learns on ``/sync``; history and the conversation list show the
tombstone or the new body at the same seq; a delete for me changes only the caller's view.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.e2e.client import Api, Json, User, assert_error, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Device, Devices, opened_devices, sync_all, sync_until
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def url(conv: str, seq: int, tail: str = "") -> str:
    return f"/api/v1/conversations/{conv}/messages/{seq}{tail}"


async def recall(api: Api, user: User, conv: str, seq: int) -> Json:
    response = await api.client.post(url(conv, seq, "/recall"), headers=user.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def edit(api: Api, user: User, conv: str, seq: int, body: str) -> Json:
    response = await api.client.patch(url(conv, seq), json={"body": body}, headers=user.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def pair(api: Api) -> tuple[User, User, User, User]:
    """Amy on an app phone and the web; Bob on an app phone (kept offline) and the web."""
    amy = await api.register_and_login("amy", client_type="app", device_id="amy-phone")
    amy_web = await api.login(amy.username, device_id="amy-web", client_type="web")
    bob = await api.register_and_login("bob", client_type="app", device_id="bob-phone")
    bob_web = await api.login(bob.username, device_id="bob-web", client_type="web")
    return amy, amy_web, bob, bob_web


async def online(server: ServerProcess, devices: Devices, *users: User) -> list[Device]:
    return [await devices.open(server, u) for u in users]


async def test_a_recall_reaches_every_device_sync_history_and_the_list(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy, amy_web, bob, bob_web = await pair(api)
    amy_phone_ws, amy_web_ws, bob_web_ws = await online(server, devices, amy, amy_web, bob_web)
    conv = conversation_id(amy.id, bob.id)
    sent = await api.send(amy, bob.id, "wrong chat, secret")
    await bob_web_ws.wait_frames("message", 1)

    tombstone = await recall(api, amy, conv, sent["seq"])

    assert tombstone["seq"] == sent["seq"]
    assert tombstone["recalled"] is True
    assert tombstone["body"] == ""
    assert tombstone["recalled_by"] == amy.id
    assert isinstance(tombstone["recalled_at"], int)
    for device in (bob_web_ws, amy_web_ws):
        await device.wait_frames("recall", 1)
        frame = device.of_type("recall")[0].frame
        assert frame["message"] == tombstone, frame
    await amy_phone_ws.ping()
    assert amy_phone_ws.of_type("recall") == []  # the device that recalled knows already
    entries, _ = await sync_until(api, bob, 2)
    assert [e["kind"] for e in entries] == ["message", "recall"]
    assert all(e["message"]["body"] == "" for e in entries)  # the body is gone from sync too
    assert await api.history(bob, conv) == [tombstone]
    listed = await api.conversation(bob, conv)
    assert listed is not None
    assert listed["last_message"] == {**tombstone, "truncated": False}

    assert await recall(api, amy, conv, sent["seq"]) == tombstone  # idempotent
    refused = await api.client.post(url(conv, sent["seq"], "/recall"), headers=bob.headers)
    assert_error(refused, 403, "not_allowed")


async def test_an_edit_keeps_the_seq_and_reaches_web_app_and_sync(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy, _, bob, bob_web = await pair(api)
    carl = await api.register_and_login("carl", client_type="app", device_id="carl-phone")
    (bob_web_ws,) = await online(server, devices, bob_web)
    group = await api.create_group(amy, "three", [bob, carl])
    conv = f"g:{group['id']}"
    await api.send_group(amy, group["id"], "first")
    sent = await api.send_group(amy, group["id"], "helo all")

    edited = await edit(api, amy, conv, sent["seq"], "hello all")

    assert (edited["seq"], edited["body"], edited["recalled"]) == (sent["seq"], "hello all", False)
    assert edited["edited_at"] >= sent["created_at"]
    await bob_web_ws.wait_frames("edit", 1)
    assert bob_web_ws.of_type("edit")[0].frame["message"] == edited
    entries, _ = await sync_until(api, carl, 4)
    # Seq 1 is the group_created system message.
    assert [(e["kind"], e["message"]["seq"]) for e in entries] == [
        ("message", 1),
        ("message", 2),
        ("message", 3),
        ("edit", 3),
    ]
    assert entries[-1]["message"]["body"] == "hello all"
    history = await api.history(bob, conv)
    assert [m["body"] for m in history if m["msg_type"] == "text"] == ["first", "hello all"]
    listed = await api.conversation(carl, conv)
    assert listed is not None
    assert listed["last_message"]["body"] == "hello all"

    not_sender = await api.client.patch(
        url(conv, sent["seq"]), json={"body": "mine now"}, headers=bob.headers
    )
    assert_error(not_sender, 403, "not_allowed")
    await recall(api, amy, conv, sent["seq"])
    after_recall = await api.client.patch(
        url(conv, sent["seq"]), json={"body": "back"}, headers=amy.headers
    )
    assert_error(after_recall, 409, "message_recalled")


async def test_delete_for_me_hides_only_for_the_caller(server: ServerProcess, api: Api) -> None:
    amy, _, bob, _ = await pair(api)
    conv = conversation_id(amy.id, bob.id)
    keep = await api.send(amy, bob.id, "keep")
    drop = await api.send(amy, bob.id, "drop")
    await sync_until(api, bob, 2)

    response = await api.client.delete(url(conv, drop["seq"]), headers=bob.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"conversation_id": conv, "seq": drop["seq"], "hidden": True}
    assert [m["seq"] for m in await api.history(bob, conv)] == [keep["seq"]]
    entries, _ = await sync_all(api, bob)
    assert [e["message"]["seq"] for e in entries] == [keep["seq"]]
    assert [m["seq"] for m in await api.history(amy, conv)] == [keep["seq"], drop["seq"]]
    amy_entries, _ = await sync_all(api, amy)
    assert drop["seq"] in [e["message"]["seq"] for e in amy_entries]
    again = await api.client.delete(url(conv, drop["seq"]), headers=bob.headers)
    assert again.status_code == 200, again.text


async def test_bad_changes_get_the_documented_errors(server: ServerProcess, api: Api) -> None:
    amy, _, bob, _ = await pair(api)
    eve = await api.register_and_login("eve", client_type="web", device_id="eve-web")
    conv = conversation_id(amy.id, bob.id)
    sent = await api.send(amy, bob.id, "hi")
    c = api.client

    assert_error(await c.post(url(conv, 99, "/recall"), headers=amy.headers), 404)
    assert_error(await c.post(url(conv, sent["seq"], "/recall"), headers=eve.headers), 403)
    assert_error(await c.delete(url(conv, sent["seq"]), headers=eve.headers), 403)
    assert_error(await c.post(url("x:1", 1, "/recall"), headers=amy.headers), 400)
    assert_error(await c.post(url(conv, 1, "/recall")), 401)
    empty = await c.patch(url(conv, sent["seq"]), json={"body": ""}, headers=amy.headers)
    assert_error(empty, 400)
    huge = await c.patch(url(conv, sent["seq"]), json={"body": "x" * 70000}, headers=amy.headers)
    assert huge.status_code == 413, huge.text
    assert [m["body"] for m in await api.history(bob, conv)] == ["hi"]


async def test_recall_and_edit_windows_come_from_config(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    server = start_server(GOMICROIM__CHAT__RECALL_WINDOW_S="1", GOMICROIM__CHAT__EDIT_WINDOW_S="1")
    api = connect(server)
    amy, _, bob, _ = await pair(api)
    conv = conversation_id(amy.id, bob.id)
    sent = await api.send(amy, bob.id, "soon too late")
    await asyncio.sleep(1.2)
    late_recall = await api.client.post(url(conv, sent["seq"], "/recall"), headers=amy.headers)
    assert_error(late_recall, 403, "recall_window_passed")
    late_edit = await api.client.patch(
        url(conv, sent["seq"]), json={"body": "x"}, headers=amy.headers
    )
    assert_error(late_edit, 403, "edit_window_passed")
    assert [m["body"] for m in await api.history(bob, conv)] == ["soon too late"]
