"""Sockets follow their session: hello first, closed when the session ends or the token expires."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.client import Api, Json, User
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Device, Devices, opened_devices, ws_url
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def assert_closed_for_session_end(device: Device) -> None:
    """A ``kick`` naming the session's end, then close 4401 ``token_revoked``."""
    close = await device.wait_closed()
    assert close is not None, f"{device.name}: closed without a close frame"
    assert (close.code, close.reason) == (4401, "token_revoked"), close
    assert device.received[-1].type == "kick", device.last_frames()
    assert "session ended" in device.received[-1].frame["reason"]


async def still_served(api: Api, device: Device, sender: User) -> None:
    """``device`` is open and gets a message sent to its user now."""
    before = len(device.messages())
    sent = await api.send(sender, device.user.id, "still here?")
    await device.wait_frames("message", before + 1)
    assert device.messages()[-1]["message"] == sent
    assert device.close is None


async def test_hello_is_the_first_frame_even_while_pushes_race_the_handshake(
    server: ServerProcess, api: Api
) -> None:
    # Pushes keep arriving for bob while his device connects again and again: whatever is
    # routed while the server prepares the hello must come after it.
    bob = await api.register_and_login("bob", client_type="app")
    senders = [await api.register_and_login(f"racer{n}", client_type="web") for n in range(4)]
    stop = asyncio.Event()

    async def keep_sending(sender: User) -> int:
        sent = 0
        while not stop.is_set():
            await api.send(sender, bob.id, f"m{sent}")
            sent += 1
        return sent

    sending = [asyncio.create_task(keep_sending(s)) for s in senders]
    firsts: list[str] = []
    pushes_seen = 0
    try:
        for _ in range(60):
            async with ws_connect(ws_url(server, bob.access_token), close_timeout=1) as ws:
                first = await asyncio.wait_for(ws.recv(), 5)
                firsts.append(json.loads(first)["type"])
                # Read on briefly so that the run shows pushes do reach these sockets.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        while True:
                            await ws.recv()
                            pushes_seen += 1
    finally:
        stop.set()
        counts = await asyncio.gather(*sending)
    assert sum(counts) > 0
    assert pushes_seen > 0, "no push reached any socket: the race was never exercised"
    assert [t for t in firsts if t != "hello"] == [], firsts


async def test_logout_closes_that_devices_socket_4401_and_nothing_else(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    bob = await api.register_and_login("bob", client_type="web", device_id="laptop")
    bob_phone = await api.login(bob.username, device_id="phone", client_type="web")
    sender = await api.register_and_login("sender", client_type="web")
    laptop = await devices.open(server, bob)
    phone = await devices.open(server, bob_phone)

    logout = await api.client.post("/api/v1/auth/logout", headers=bob.headers)
    assert logout.status_code == 204

    await assert_closed_for_session_end(laptop)
    assert [r.type for r in laptop.received] == ["hello", "kick"]
    await still_served(api, phone, sender)
    # The ended session cannot come back in through the socket either.
    closed = await first_close_code(ws_url(server, bob.access_token))
    assert closed == (4401, "token_revoked", [])


async def test_a_new_login_of_the_device_closes_the_old_sessions_socket(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    bob = await api.register_and_login("bob", client_type="web", device_id="phone")
    sender = await api.register_and_login("sender", client_type="web")
    old = await devices.open(server, bob)

    again = await api.login(bob.username, device_id="phone", client_type="web")

    await assert_closed_for_session_end(old)
    assert "replaced" in old.received[-1].frame["reason"]
    fresh = await devices.open(server, again)
    await still_served(api, fresh, sender)


async def test_refresh_token_reuse_closes_the_sessions_socket(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    bob = await api.register_and_login("bob", client_type="web")
    sender = await api.register_and_login("sender", client_type="web")
    device = await devices.open(server, bob)
    rotated = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": bob.refresh_token}
    )
    assert rotated.status_code == 200, rotated.text
    # Rotation alone keeps the session, and so the socket.
    await still_served(api, device, sender)

    reused = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": bob.refresh_token}
    )
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"

    await assert_closed_for_session_end(device)
    assert "refresh_token_reused" in device.received[-1].frame["reason"]


async def first_close_code(url: str) -> tuple[int | None, str | None, list[str | bytes]]:
    """Connect and read until closed: (close code, close reason, data frames before it)."""
    received: list[str | bytes] = []
    async with ws_connect(url, close_timeout=1) as ws:
        try:
            while True:
                received.append(await asyncio.wait_for(ws.recv(), 5))
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else None), received


ACCESS_TTL_S = 3


@pytest.fixture
def short_tokens(start_server: StartServer) -> ServerProcess:
    """A server whose access tokens live ``ACCESS_TTL_S`` seconds."""
    return start_server(GOMICROIM__IDENTITY__ACCESS_TTL_S=str(ACCESS_TTL_S))


async def refreshed(api: Api, user: User) -> Json:
    response = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert response.status_code == 200, response.text
    tokens: Json = response.json()
    return tokens


async def test_a_socket_closes_4401_when_its_token_expires(
    short_tokens: ServerProcess, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    api = connect(short_tokens)
    bob = await api.register_and_login("bob", client_type="web")
    device = await devices.open(short_tokens, bob)
    expires_at = bob.tokens["access_expires_at"] / 1000

    close = await device.wait_closed(within_s=ACCESS_TTL_S + 5)
    closed_at = time.time()

    assert close is not None
    assert (close.code, close.reason) == (4401, "token_expired")
    assert [r.type for r in device.received] == ["hello", "kick"]
    # The token's expiry is whole seconds (JWT exp), so up to 1 s before access_expires_at.
    assert expires_at - 1.5 <= closed_at <= expires_at + 3, (closed_at, expires_at)


async def test_reauth_moves_the_expiry_and_a_wrong_token_changes_nothing(
    short_tokens: ServerProcess, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    api = connect(short_tokens)
    bob = await api.register_and_login("bob", client_type="web", device_id="phone")
    bob_laptop = await api.login(bob.username, device_id="laptop", client_type="web")
    carol = await api.register_and_login("carol", client_type="web")
    renewing = await devices.open(short_tokens, bob)
    stubborn = await devices.open(short_tokens, bob_laptop)

    # Wrong tokens: an error each, and the socket keeps its old expiry.
    wrong = {
        "not-a-token": "invalid_token",
        carol.access_token: "token_mismatch",
        bob.access_token: "token_mismatch",  # same user, the other device
    }
    for token in wrong:
        await stubborn.send_json({"type": "reauth", "access_token": token})
    await stubborn.send_json({"type": "reauth"})
    await stubborn.wait_frames("error", len(wrong) + 1)
    codes = [r.frame["code"] for r in stubborn.of_type("error")]
    assert codes == [*wrong.values(), "bad_frame"]

    # A fresh token of the same session, issued a second or more later, lives longer.
    await asyncio.sleep(1.1)
    tokens = await refreshed(api, bob)
    await renewing.send_json({"type": "reauth", "access_token": tokens["access_token"]})
    await renewing.wait_frames("reauthed", 1)
    reauthed = renewing.of_type("reauthed")[0].frame
    assert set(reauthed) == {"type", "access_expires_at"}
    assert tokens["access_expires_at"] - 1000 <= reauthed["access_expires_at"]
    assert reauthed["access_expires_at"] <= tokens["access_expires_at"]

    # The unrenewed socket closes at its token's expiry; the renewed one outlives it.
    close = await stubborn.wait_closed(within_s=ACCESS_TTL_S + 5)
    assert close is not None
    assert (close.code, close.reason) == (4401, "token_expired")
    assert time.time() * 1000 < reauthed["access_expires_at"]
    await still_served(api, renewing, carol)

    close = await renewing.wait_closed(within_s=ACCESS_TTL_S + 5)
    assert close is not None
    assert (close.code, close.reason) == (4401, "token_expired")
    assert time.time() * 1000 >= reauthed["access_expires_at"] - 500
