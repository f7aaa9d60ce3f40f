"""Typing indicators over real sockets: the peer sees them, outsiders never, throttled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.e2e.client import Api, conversation_id
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def test_typing_reaches_the_peer_not_outsiders_and_is_throttled(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="app", device_id="amy-phone")
    amy_web = await api.login(amy.username, device_id="amy-web", client_type="web")
    bob = await api.register_and_login("bob", client_type="web", device_id="bob-web")
    eve = await api.register_and_login("eve", client_type="web", device_id="eve-web")
    amy_ws = await devices.open(server, amy)
    amy_web_ws = await devices.open(server, amy_web)
    bob_ws = await devices.open(server, bob)
    eve_ws = await devices.open(server, eve)
    conv = conversation_id(amy.id, bob.id)

    for _ in range(5):
        await amy_ws.send_json({"type": "typing", "conversation_id": conv})
    await bob_ws.wait_frames("typing", 1)
    await asyncio.sleep(0.3)
    await asyncio.gather(amy_ws.ping(), amy_web_ws.ping(), bob_ws.ping(), eve_ws.ping())

    assert [r.frame for r in bob_ws.of_type("typing")] == [
        {"type": "typing", "conversation_id": conv, "user_id": amy.id}
    ]
    assert eve_ws.of_type("typing") == []
    assert amy_web_ws.of_type("typing") == []  # the typist's own devices are not told
    assert amy_ws.of_type("error") == []
    history = await api.client.get(f"/api/v1/conversations/{conv}/messages", headers=amy.headers)
    assert history.json()["messages"] == []  # never stored


async def test_typing_in_a_group_and_refusals(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="web", device_id="amy-web")
    bob = await api.register_and_login("bob", client_type="web", device_id="bob-web")
    eve = await api.register_and_login("eve", client_type="web", device_id="eve-web")
    group = await api.create_group(amy, "pair", [bob])
    amy_ws = await devices.open(server, amy)
    bob_ws = await devices.open(server, bob)
    eve_ws = await devices.open(server, eve)

    await bob_ws.send_json({"type": "typing", "conversation_id": f"g:{group['id']}"})
    await amy_ws.wait_frames("typing", 1)
    assert amy_ws.of_type("typing")[0].frame["user_id"] == bob.id

    await eve_ws.send_json({"type": "typing", "conversation_id": f"g:{group['id']}"})
    await eve_ws.send_json({"type": "typing", "conversation_id": conversation_id(amy.id, bob.id)})
    await eve_ws.send_json({"type": "typing", "conversation_id": "nonsense"})
    await eve_ws.wait_frames("error", 3)
    codes = [r.frame["code"] for r in eve_ws.of_type("error")]
    assert codes == ["not_a_member", "not_a_participant", "invalid_conversation_id"]
    await asyncio.gather(amy_ws.ping(), bob_ws.ping(), eve_ws.ping())
    assert len(amy_ws.of_type("typing")) == 1
    assert bob_ws.of_type("typing") == []
    await eve_ws.ping()  # the socket stays open after refusals
