"""Mute and pin over a real server: the endpoint, the settings frame, list order and paging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.client import Api, Json, User, assert_error, conversation_id
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

HOUR_MS = 3_600_000


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def settings(api: Api, user: User, conv_id: str, body: Any) -> Any:
    """The raw response of ``PATCH /conversations/{id}/settings``."""
    return await api.client.patch(
        f"/api/v1/conversations/{conv_id}/settings", json=body, headers=user.headers
    )


async def ok(api: Api, user: User, conv_id: str, body: Any) -> Json:
    response = await settings(api, user, conv_id, body)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def ids(page: Json) -> list[str]:
    return [c["conversation_id"] for c in page["conversations"]]


async def test_a_change_reaches_every_device_of_the_user_and_nobody_else(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy")
    amy_web = await api.login(amy.username, device_id="web-1", client_type="web")
    bob = await api.register_and_login("bob")
    await api.send(amy, bob.id, "hi")
    conv = conversation_id(amy.id, bob.id)
    amy_ws = await devices.open(server, amy)
    web_ws = await devices.open(server, amy_web)
    bob_ws = await devices.open(server, bob)
    until = int(time.time() * 1000) + HOUR_MS

    answer = await ok(api, amy, conv, {"muted_until": until, "pinned": True})

    expected = {"conversation_id": conv, "muted_until": until, "pinned": True}
    assert answer == expected
    await web_ws.wait_frames("settings", 1)
    assert web_ws.of_type("settings")[0].frame == {"type": "settings", **expected}
    await amy_ws.wait_frames("settings", 1)
    await bob_ws.ping()
    assert bob_ws.of_type("settings") == []

    # Only the field given changes; the frame carries the whole state.
    answer = await ok(api, amy_web, conv, {"pinned": False})
    assert answer == {**expected, "pinned": False}
    await amy_ws.wait_frames("settings", 2)
    assert amy_ws.of_type("settings")[1].frame == {"type": "settings", **answer}


async def test_pinning_reorders_the_list_and_muting_leaves_the_total(api: Api) -> None:
    me = await api.register_and_login("me")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    await api.send(ann, me.id, "a1")
    await asyncio.sleep(0.01)
    for body in ("b1", "b2"):
        await api.send(ben, me.id, body)
    with_ann, with_ben = conversation_id(me.id, ann.id), conversation_id(me.id, ben.id)
    assert ids(await api.conversations(me)) == [with_ben, with_ann]

    await ok(api, me, with_ann, {"pinned": True})
    await ok(api, me, with_ben, {"muted_until": int(time.time() * 1000) + HOUR_MS})

    listing = await api.conversations(me)
    assert ids(listing) == [with_ann, with_ben]
    by_id = {c["conversation_id"]: c for c in listing["conversations"]}
    assert (by_id[with_ann]["pinned"], by_id[with_ann]["muted_until"]) == (True, None)
    assert by_id[with_ben]["pinned"] is False
    assert by_id[with_ben]["muted_until"] > time.time() * 1000
    # A muted conversation shows its own unread but leaves the badge total.
    assert (by_id[with_ann]["unread"], by_id[with_ben]["unread"]) == (1, 2)
    assert listing["total_unread"] == 1
    # The peers' lists are theirs: neither is pinned nor muted for them.
    assert (await api.conversation(ann, with_ann) or {})["pinned"] is False

    # A time already passed, or null, unmutes.
    assert (await ok(api, me, with_ben, {"muted_until": 1}))["muted_until"] is None
    assert (await api.conversations(me))["total_unread"] == 3
    await ok(api, me, with_ben, {"muted_until": int(time.time() * 1000) + HOUR_MS})
    assert (await ok(api, me, with_ben, {"muted_until": None}))["muted_until"] is None
    assert (await api.conversations(me))["total_unread"] == 3


async def test_paging_through_pinned_and_unpinned_returns_each_once(api: Api) -> None:
    me = await api.register_and_login("me")
    peers = [await api.register_and_login(f"p{i}") for i in range(7)]
    for peer in peers:
        await api.send(peer, me.id, "hi")
        await asyncio.sleep(0.005)
    convs = [conversation_id(me.id, p.id) for p in peers]
    for i in (1, 2, 5):
        await ok(api, me, convs[i], {"pinned": True})
    expected = [convs[i] for i in (5, 2, 1, 6, 4, 3, 0)]

    for limit in (1, 2, 3, 4):
        walked: list[str] = []
        params: dict[str, int | str] = {"limit": limit}
        while True:
            page = await api.conversations(me, **params)
            walked += ids(page)
            if page["next_before"] is None:
                break
            params["before"] = page["next_before"]
        assert walked == expected, limit
    assert ids(await api.conversations(me)) == expected


async def test_only_a_participant_changes_settings(api: Api) -> None:
    amy = await api.register_and_login("amy")
    bob = await api.register_and_login("bob")
    eve = await api.register_and_login("eve")
    await api.send(amy, bob.id, "hi")
    group = await api.create_group(amy, "g", [bob])
    await api.send_group(amy, group["id"], "hello")
    single = conversation_id(amy.id, bob.id)

    assert_error(await settings(api, eve, single, {"pinned": True}), 403, "not_a_participant")
    assert_error(
        await settings(api, eve, f"g:{group['id']}", {"pinned": True}), 403, "not_a_member"
    )
    assert_error(await settings(api, eve, "g:999999999", {"pinned": True}), 404, "group_not_found")
    # A single chat the caller takes part in but nobody has written in yet.
    assert_error(
        await settings(api, amy, conversation_id(amy.id, eve.id), {"pinned": True}),
        404,
        "conversation_not_found",
    )
    response = await api.client.patch(
        f"/api/v1/conversations/{single}/settings", json={"pinned": True}
    )
    assert response.status_code == 401, response.text
    assert (await api.conversations(eve))["conversations"] == []
    for user in (amy, bob):
        assert {c["pinned"] for c in (await api.conversations(user))["conversations"]} == {False}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"pinned": "yes"}, "invalid_field", "pinned"),
        ({"pinned": True, "muted_until": "tomorrow"}, "invalid_field", "muted_until"),
        ({"muted_until": -5, "pinned": True}, "invalid_field", "muted_until"),
        ({"muted_until": 2**53}, "invalid_field", "muted_until"),
        ({"pinned": True, "archived": True}, "invalid_field", None),
        ([True], "invalid_field", None),
    ],
)
async def test_bad_input_is_refused_and_stores_nothing(
    api: Api, body: Any, code: str, field: str | None
) -> None:
    amy = await api.register_and_login("amy")
    bob = await api.register_and_login("bob")
    await api.send(bob, amy.id, "hi")
    conv = conversation_id(amy.id, bob.id)

    error = assert_error(await settings(api, amy, conv, body), 400, code, field)
    if field is None and isinstance(body, dict):
        assert "archived" in error["message"]

    [entry] = (await api.conversations(amy))["conversations"]
    assert (entry["pinned"], entry["muted_until"]) == (False, None)
    assert (await api.conversations(amy))["total_unread"] == 1


async def test_malformed_json_and_bad_ids_are_refused(api: Api) -> None:
    amy = await api.register_and_login("amy")
    bob = await api.register_and_login("bob")
    await api.send(bob, amy.id, "hi")
    conv = conversation_id(amy.id, bob.id)

    response = await api.client.patch(
        f"/api/v1/conversations/{conv}/settings",
        content=b'{"pinned": tru',
        headers={**amy.headers, "content-type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")
    assert_error(await settings(api, amy, "x:1", {"pinned": True}), 400, "invalid_conversation_id")
    [entry] = (await api.conversations(amy))["conversations"]
    assert entry["pinned"] is False
