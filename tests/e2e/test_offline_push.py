"""Offline push against a real server and a real webhook receiver on a loopback port.

Recipients with no live connection and a registered push token get one signed notification
per message at ``push.webhook_url``; online recipients and the sender get none.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.client import Api, User
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret"
ARRIVAL_TIMEOUT_S = 15.0


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def notifications(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body)["notifications"])


class Receiver:
    """A webhook on 127.0.0.1 answering each POST with the next scripted status (then 200)."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append(Received(dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/push"

    def accepted(self) -> list[dict[str, Any]]:
        """Every notification of the POSTs answered 2xx, in arrival order."""
        with self._lock:
            return [n for r in self.received if r.status < 300 for n in r.notifications]

    async def wait_for(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
        while not done():
            assert time.monotonic() < deadline, f"webhook got only {self.received}"
            await asyncio.sleep(0.05)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    # The first POST fails: the server must try again.
    with Receiver(500) as running:
        yield running


def push_server(start_server: StartServer, receiver: Receiver, **env: str) -> ServerProcess:
    return start_server(
        GOMICROIM__PUSH__WEBHOOK_URL=receiver.url,
        GOMICROIM__PUSH__WEBHOOK_SECRET=SECRET,
        GOMICROIM__PUSH__FLUSH_INTERVAL_MS="50",
        GOMICROIM__PUSH__RETRY_BACKOFF_MS="100",
        **env,
    )


async def register_token(api: Api, user: User, token: str) -> None:
    response = await api.client.put(
        f"/api/v1/devices/{user.device_id}/push-token",
        json={"platform": "apns", "token": token},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["token"] == token


def verify(request: Received) -> None:
    """Check the request the way the README tells a receiver to."""
    timestamp = request.headers["X-Gomicroim-Timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    signed = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Gomicroim-Signature"], expected)


async def test_offline_recipients_with_tokens_get_one_signed_notification_after_a_retry(
    start_server: StartServer,
    connect: Callable[[ServerProcess], Api],
    devices: Devices,
    receiver: Receiver,
) -> None:
    server = push_server(start_server, receiver)
    api = connect(server)
    alice, bob, carol, dave = [await api.register_and_login(n) for n in ("al", "bo", "ca", "da")]
    await register_token(api, alice, "alice-token")
    await register_token(api, bob, "bob-token")
    await register_token(api, carol, "carol-token")
    await devices.open(server, carol)  # online: pushed over her socket, not notified
    group = await api.create_group(alice, "team", [bob, carol, dave])  # dave has no token

    sent = await api.send_group(alice, group["id"], "hello team")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 1)

    first, second = receiver.received[:2]
    assert (first.status, second.status) == (500, 200)
    # The retry is the same batch under the same delivery id, signed again.
    assert first.notifications == second.notifications
    assert first.headers["X-Gomicroim-Delivery"] == second.headers["X-Gomicroim-Delivery"]
    for request in (first, second):
        verify(request)
    assert receiver.accepted() == [
        {
            "recipient_id": bob.id,
            "devices": [{"device_id": bob.device_id, "platform": "apns", "token": "bob-token"}],
            "conversation_id": sent["conversation_id"],
            "session_type": "group",
            "seq": sent["seq"],
            "sender_id": alice.id,
            "msg_type": "text",
            "created_at": sent["created_at"],
            "body_preview": "hello team",
        }
    ]

    # Notifications leave in message order: once the one after Carol's has arrived, hers
    # would have too.
    await api.send(alice, carol.id, "carol is online")
    to_bob = await api.send(alice, bob.id, "bob is not")
    await receiver.wait_for(lambda: len(receiver.accepted()) >= 2)
    assert [(n["recipient_id"], n["seq"]) for n in receiver.accepted()] == [
        (bob.id, sent["seq"]),
        (bob.id, to_bob["seq"]),
    ]

    metrics = (await api.client.get("/metrics")).text
    assert 'gomicroim_push_notifications_total{outcome="sent"} 2.0' in metrics
    assert 'gomicroim_push_notifications_total{outcome="retried"} 1.0' in metrics


async def test_with_bodies_off_a_notification_carries_no_message_text(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    with Receiver() as receiver:
        server = push_server(start_server, receiver, GOMICROIM__PUSH__INCLUDE_BODY="false")
        api = connect(server)
        alice, bob = await api.register_and_login("al"), await api.register_and_login("bo")
        await register_token(api, bob, "bob-token")

        sent = await api.send(alice, bob.id, "top secret")
        await receiver.wait_for(lambda: len(receiver.accepted()) >= 1)

    (notification,) = receiver.accepted()
    assert "body_preview" not in notification
    assert (notification["recipient_id"], notification["seq"]) == (bob.id, sent["seq"])
    assert b"top secret" not in receiver.received[0].body


async def test_a_muted_conversation_sends_no_notification_until_unmuted(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    with Receiver() as receiver:
        server = push_server(start_server, receiver)
        api = connect(server)
        alice, bob = await api.register_and_login("al"), await api.register_and_login("bo")
        carol = await api.register_and_login("ca")
        await register_token(api, bob, "bob-token")
        await register_token(api, carol, "carol-token")
        group = await api.create_group(alice, "noisy", [bob, carol])
        settings = f"/api/v1/conversations/g:{group['id']}/settings"
        far = int(time.time() * 1000) + 3_600_000
        muted = await api.client.patch(settings, json={"muted_until": far}, headers=bob.headers)
        assert muted.status_code == 200, muted.text

        quiet = await api.send_group(alice, group["id"], "bob muted this")
        # carol's notification of the same message arriving means bob's would have too.
        await receiver.wait_for(lambda: len(receiver.accepted()) >= 1)
        assert [(n["recipient_id"], n["seq"]) for n in receiver.accepted()] == [
            (carol.id, quiet["seq"])
        ]

        unmuted = await api.client.patch(settings, json={"muted_until": None}, headers=bob.headers)
        assert unmuted.status_code == 200, unmuted.text
        loud = await api.send_group(alice, group["id"], "bob hears this")
        await receiver.wait_for(lambda: len(receiver.accepted()) >= 3)

    assert sorted((n["recipient_id"], n["seq"]) for n in receiver.accepted()[1:]) == sorted(
        [(bob.id, loud["seq"]), (carol.id, loud["seq"])]
    )


async def test_a_token_for_a_device_the_caller_never_used_is_refused(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    with Receiver() as receiver:
        server = push_server(start_server, receiver)
        api = connect(server)
        alice = await api.register_and_login("al")
        bob = await api.register_and_login("bo", device_id="bobs-tablet")
        url = "/api/v1/devices/{}/push-token"

        # Another user's device, and one nobody logged in from: the same 404.
        for device in (bob.device_id, "never-seen"):
            response = await api.client.put(
                url.format(device), json={"platform": "fcm", "token": "t"}, headers=alice.headers
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "device_not_found"
        for body in (
            {"platform": "sms", "token": "t"},
            {"platform": "fcm", "token": ""},
            {"platform": "fcm", "token": "has space"},
            {"platform": "fcm", "token": "x" * 4097},
            {"platform": "fcm"},
        ):
            response = await api.client.put(
                url.format(alice.device_id), json=body, headers=alice.headers
            )
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]["code"] == "invalid_field", response.text
        # Nothing was stored: a message to Alice, offline, notifies nobody.
        await api.send(bob, alice.id, "anyone?")
        await asyncio.sleep(0.5)
        assert receiver.received == []


async def test_a_logged_out_device_is_no_longer_notified(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    with Receiver() as receiver:
        server = push_server(start_server, receiver)
        api = connect(server)
        alice, bob, carol = [await api.register_and_login(n) for n in ("al", "bo", "ca")]
        await register_token(api, bob, "bob-token")
        await register_token(api, carol, "carol-token")
        response = await api.client.post("/api/v1/auth/logout", headers=bob.headers)
        assert response.status_code == 204, response.text

        await api.send(alice, bob.id, "are you there?")
        to_carol = await api.send(alice, carol.id, "and you?")
        # Carol's notification leaves after the one Bob would have had.
        await receiver.wait_for(lambda: len(receiver.accepted()) >= 1)

    assert [(n["recipient_id"], n["seq"]) for n in receiver.accepted()] == [
        (carol.id, to_carol["seq"])
    ]
