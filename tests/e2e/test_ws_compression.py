"""permessage-deflate: refused by default (gateway.per_message_deflate), accepted when enabled."""

from __future__ import annotations

import json
from collections.abc import Callable

from websockets.asyncio.client import connect as ws_connect

from tests.e2e.client import Api
from tests.e2e.conftest import StartServer
from tests.e2e.devices import ws_url
from tests.e2e.server import ServerProcess


async def _offer_deflate_and_chat(server: ServerProcess, api: Api) -> str | None:
    """Connect bob offering permessage-deflate; alice sends; return what the server agreed."""
    alice, bob = await api.register_and_login("alice"), await api.register_and_login("bob")
    async with ws_connect(
        ws_url(server, bob.access_token), compression="deflate", max_size=None
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        sent = await api.send(alice, bob.id, "squeeze me " * 20)
        frame = json.loads(await ws.recv())
        assert frame["type"] == "message"
        assert frame["message"]["seq"] == sent["seq"]
        assert frame["message"]["body"] == "squeeze me " * 20
        extensions: str | None = ws.response.headers.get("Sec-WebSocket-Extensions")
        return extensions


async def test_a_deflate_offer_is_refused_by_default_and_frames_arrive_plain(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    server = start_server()

    assert await _offer_deflate_and_chat(server, connect(server)) is None


async def test_with_per_message_deflate_on_the_offer_is_accepted(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    server = start_server(GOMICROIM__GATEWAY__PER_MESSAGE_DEFLATE="true")

    extensions = await _offer_deflate_and_chat(server, connect(server))

    assert extensions is not None
    assert extensions.startswith("permessage-deflate")
