"""Offline push through the real wiring: an API process and two fan-out processes, one bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from dependency_injector import providers

from gomicroim.app import create_app
from gomicroim.config import Settings
from gomicroim.container import Container
from gomicroim.modules.notifications.contract import PushTokenSet
from tests.fakes.asgi import serving
from tests.fakes.push import RecordingRouter
from tests.fakes.world import JWT_SECRET, World
from tests.unit.test_composition import access_token

MESSAGES = 30


class Webhook:
    """A transport that accepts every POST and keeps its notifications."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.notifications.extend(json.loads(body)["notifications"])
        return 200

    async def close(self) -> None:
        pass


async def test_each_message_is_notified_once_however_many_fanout_processes_run(
    make_settings: Callable[..., Settings],
) -> None:
    world, webhook = World(), Webhook()
    push = {"webhook_url": "http://push.test/", "webhook_secret": "k", "flush_interval_ms": 5}

    def process(roles: list[str], node_id: str) -> Container:
        settings = make_settings(server={"roles": roles, "node_id": node_id}, push=push)
        container = world.wire(Container(settings=settings, jwt_secret=JWT_SECRET))
        container.notifications.transport.override(providers.Object(webhook))
        # No gateway in these processes, and Bob is offline: nothing is pushed anywhere.
        container.gateway.router.override(providers.Object(RecordingRouter()))
        return container

    api = process(["api"], "api-1")
    workers = [process(["fanout"], f"fan-{i}") for i in (1, 2)]
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(serving(create_app(api.settings(), api)))
        for worker in workers:
            await stack.enter_async_context(serving(create_app(worker.settings(), worker)))
        alice = await access_token(api, "alice", device_id="laptop")
        bob = await access_token(api, "bob", device_id="phone")
        bob_id = (await api.identity.service().authenticate(bob)).user_id
        await api.notifications.service().set_token(
            bob_id, "phone", PushTokenSet(platform="fcm", token="bob-phone")
        )
        for i in range(MESSAGES):
            sent = await http.post(
                "/api/v1/messages",
                json={
                    "to": bob_id,
                    "session_type": "single",
                    "client_msg_id": f"c{i}",
                    "msg_type": "text",
                    "body": f"message {i}",
                },
                headers={"Authorization": f"Bearer {alice}"},
            )
            assert sent.status_code == 201, sent.text
        for _ in range(200):
            if len(webhook.notifications) >= MESSAGES:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # time for any duplicate to arrive

    assert sorted(n["seq"] for n in webhook.notifications) == list(range(1, MESSAGES + 1))
    assert {n["recipient_id"] for n in webhook.notifications} == {bob_id}
