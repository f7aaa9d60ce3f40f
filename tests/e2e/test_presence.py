"""Presence over a real server: GET /api/v1/presence and presence frames on real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.client import Api, User, assert_error
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def presence(api: Api, caller: User, *user_ids: int) -> list[dict[str, Any]]:
    response = await api.client.get(
        "/api/v1/presence",
        params={"user_ids": ",".join(str(u) for u in user_ids)},
        headers=caller.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"presence"}, body
    entries: list[dict[str, Any]] = body["presence"]
    return entries


async def until_state(
    api: Api, caller: User, user: User, online: bool, within_s: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        entries = await presence(api, caller, user.id)
        if entries and entries[0]["online"] is online:
            return entries[0]
        assert time.monotonic() < deadline, f"{user.username} not online={online}: {entries}"
        await asyncio.sleep(0.05)


async def test_presence_flips_online_and_offline_with_last_seen_on_the_last_device(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="web", device_id="amy-web")
    bob = await api.register_and_login("bob", client_type="web", device_id="bob-web")
    bob_phone = await api.login(bob.username, device_id="bob-phone", client_type="app")
    await api.send(amy, bob.id, "hi")  # a single conversation makes them see each other

    never = await presence(api, amy, bob.id)
    web = await devices.open(server, bob)
    phone = await devices.open(server, bob_phone)
    online = await until_state(api, amy, bob, True)
    await web.aclose()
    await asyncio.sleep(0.3)
    still = await presence(api, amy, bob.id)
    before = int(time.time() * 1000)
    await phone.aclose()
    offline = await until_state(api, amy, bob, False)

    assert never == [{"user_id": bob.id, "online": False, "last_seen_at": None}]
    assert online == {"user_id": bob.id, "online": True, "last_seen_at": None}
    assert still == [{"user_id": bob.id, "online": True, "last_seen_at": None}]
    assert offline["last_seen_at"] is not None
    assert before - 1000 <= offline["last_seen_at"] <= int(time.time() * 1000)


async def test_strangers_are_omitted_like_unknown_users_and_group_mates_shown(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="web", device_id="amy-web")
    mate = await api.register_and_login("mate", client_type="web", device_id="mate-web")
    eve = await api.register_and_login("eve", client_type="web", device_id="eve-web")
    await api.create_group(amy, "team", [mate])
    await devices.open(server, eve)
    await devices.open(server, mate)
    await until_state(api, amy, mate, True)

    listed = await presence(api, amy, eve.id, 2**53 - 1, mate.id, amy.id, mate.id)

    assert [e["user_id"] for e in listed] == [mate.id, amy.id]  # no eve, no unknown id
    assert listed[0]["online"] is True
    assert listed[1] == {"user_id": amy.id, "online": False, "last_seen_at": None}
    assert await presence(api, eve, amy.id, mate.id) == []


async def test_bad_user_id_lists_are_refused(api: Api) -> None:
    amy = await api.register_and_login("amy", client_type="web", device_id="amy-web")

    def get(**params: str) -> Any:
        return api.client.get("/api/v1/presence", params=params, headers=amy.headers)

    too_many = await get(user_ids=",".join(str(i) for i in range(1, 102)))
    at_bound = await get(user_ids=",".join(str(i) for i in range(1, 101)))
    assert_error(too_many, 400, "too_many_user_ids", "user_ids")
    assert at_bound.status_code == 200, at_bound.text
    for bad in ("", "1,,2", "x", "0", "-3", "1.5", str(2**53)):
        assert_error(await get(user_ids=bad), 400, "invalid_field", "user_ids")
    assert_error(await get(), 400)
    anonymous = await api.client.get("/api/v1/presence", params={"user_ids": "1"})
    assert_error(anonymous, 401)


async def test_a_subscribed_client_gets_presence_frames_and_a_stranger_never(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="web", device_id="amy-web")
    bob = await api.register_and_login("bob", client_type="web", device_id="bob-web")
    eve = await api.register_and_login("eve", client_type="web", device_id="eve-web")
    await api.send(bob, amy.id, "hello")
    amy_ws = await devices.open(server, amy)
    eve_ws = await devices.open(server, eve)
    await amy_ws.send_json({"type": "subscribe_presence", "user_ids": [bob.id, eve.id]})
    await eve_ws.send_json({"type": "subscribe_presence", "user_ids": [bob.id, amy.id]})
    await asyncio.gather(amy_ws.ping(), eve_ws.ping())

    bob_ws = await devices.open(server, bob)
    await amy_ws.wait_frames("presence", 1)
    await bob_ws.aclose()
    await amy_ws.wait_frames("presence", 2)
    await eve_ws.aclose()
    await asyncio.sleep(0.3)
    await amy_ws.ping()

    frames = [r.frame for r in amy_ws.of_type("presence")]
    assert frames[0] == {
        "type": "presence",
        "user_id": bob.id,
        "online": True,
        "last_seen_at": None,
    }
    assert frames[1]["user_id"] == bob.id
    assert frames[1]["online"] is False
    assert isinstance(frames[1]["last_seen_at"], int)
    assert len(frames) == 2  # eve, a stranger, was dropped from the subscription
    assert eve_ws.of_type("presence") == []
    assert amy_ws.of_type("error") == []


async def test_subscribing_to_more_than_the_bound_is_an_error_frame(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="web", device_id="amy-web")
    amy_ws = await devices.open(server, amy)

    await amy_ws.send_json({"type": "subscribe_presence", "user_ids": list(range(1, 202))})
    await amy_ws.send_json({"type": "subscribe_presence", "user_ids": [0]})
    await amy_ws.wait_frames("error", 2)
    await amy_ws.ping()  # the socket stays open

    codes = [r.frame["code"] for r in amy_ws.of_type("error")]
    assert codes == ["too_many_subscriptions", "bad_frame"]
    assert "200" in amy_ws.of_type("error")[0].frame["message"]
