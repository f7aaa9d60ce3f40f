"""``subscribe_presence`` and ``presence`` frames through the gateway over in-memory sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gomicroim.errors import Unavailable
from gomicroim.gateway.presence import PresenceSubscriptions
from gomicroim.gateway.quota import MemoryConnectionQuota
from gomicroim.gateway.service import Gateway
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.identity.contract import SessionEnded
from gomicroim.modules.presence.service import PresenceService
from gomicroim.modules.presence.view import PresenceView
from tests.fakes.presence import memory_presence
from tests.unit.test_gateway_service import FakeIdentity, FakeSocket, GatedTimeline, until

AMY, BOB, CAT, EVE = 1, 2, 3, 4


class Contacts:
    """Amy shares conversations with Bob and Cat; Eve with nobody."""

    pairs = frozenset({frozenset({AMY, BOB}), frozenset({AMY, CAT})})

    def __init__(self) -> None:
        self.failure: Exception | None = None

    async def shared(self, user_id: int, candidates: set[int]) -> set[int]:
        if self.failure is not None:
            raise self.failure
        return {c for c in candidates if frozenset({user_id, c}) in self.pairs}


class World:
    def __init__(self, max_subscriptions: int = 3) -> None:
        self.identity = FakeIdentity()
        self.presence: PresenceService = memory_presence()[0]
        self.contacts = Contacts()
        self.subscriptions = PresenceSubscriptions(
            view=PresenceView(presence=self.presence, contacts=self.contacts),
            presence=self.presence,
            max_subscriptions=max_subscriptions,
        )
        self.gateway = Gateway(
            node_id="n1",
            identity=self.identity,  # type: ignore[arg-type]
            presence=self.presence,
            timeline=GatedTimeline(),  # type: ignore[arg-type]
            session_events=LocalBroadcast[SessionEnded]("session_ended"),
            quota=MemoryConnectionQuota(per_user=0, per_ip=0),
            idle_timeout_s=30,
            max_pending_bytes=1 << 20,
            max_frames_per_second=0,
            frame_burst=10,
            presence_subscriptions=self.subscriptions,
        )
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self, user_id: int, device_id: str = "d") -> FakeSocket:
        token = f"{user_id}-{device_id}"
        self.identity.issue(token, user_id, device_id, len(self.tasks) + 1)
        socket = FakeSocket(token)
        self.tasks.append(asyncio.create_task(self.gateway.serve(socket)))  # type: ignore[arg-type]
        await until(lambda: len(socket.frames()) == 1, "hello")
        return socket

    async def settle(self, socket: FakeSocket) -> None:
        """Frames are handled in order: once a ping is answered, what came before is done."""
        pongs = len(of(socket, "pong"))
        socket.client_sends('{"type":"ping"}')
        await until(lambda: len(of(socket, "pong")) > pongs, "pong")


def of(socket: FakeSocket, kind: str) -> list[dict[str, object]]:
    return [f for f in socket.frames() if f["type"] == kind]


def leave(socket: FakeSocket) -> None:
    socket.inbox.put_nowait({"type": "websocket.disconnect"})


@pytest.fixture
async def world() -> AsyncIterator[World]:
    made = World()
    # As a running gateway does: its connections count only under its node's lease.
    async with made.presence.hold("n1"):
        yield made
    for task in made.tasks:
        task.cancel()
    await asyncio.gather(*made.tasks, return_exceptions=True)


async def test_a_follower_hears_first_connect_and_last_disconnect_only(world: World) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[2]}')
    await world.settle(amy)

    phone = await world.connect(BOB, "phone")
    laptop = await world.connect(BOB, "laptop")
    leave(phone)
    await until(lambda: world.gateway.registry.get(BOB, "phone") is None, "phone gone")
    leave(laptop)
    await until(lambda: len(of(amy, "presence")) == 2, "offline")

    await world.settle(amy)
    online, offline = of(amy, "presence")
    assert online == {"type": "presence", "user_id": BOB, "online": True, "last_seen_at": None}
    assert offline["online"] is False
    assert isinstance(offline["last_seen_at"], int)


async def test_ids_the_caller_may_not_see_are_dropped_silently(world: World) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[4, 2, 999]}')
    await world.settle(amy)

    await world.connect(EVE)
    await world.connect(BOB)
    await until(lambda: len(of(amy, "presence")) == 1, "bob online")
    await world.settle(amy)

    assert [f["user_id"] for f in of(amy, "presence")] == [BOB]
    assert of(amy, "error") == []
    assert world.subscriptions.following(world.gateway.registry.get(AMY, "d")) == {BOB}  # type: ignore[arg-type]


async def test_a_subscription_replaces_the_previous_one(world: World) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[2]}')
    amy.client_sends('{"type":"subscribe_presence","user_ids":[3]}')
    await world.settle(amy)

    await world.connect(BOB)
    await world.connect(CAT)
    await until(lambda: len(of(amy, "presence")) == 1, "cat online")
    await world.settle(amy)

    assert [f["user_id"] for f in of(amy, "presence")] == [CAT]


async def test_over_the_bound_is_an_error_and_the_previous_set_stays(world: World) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[2]}')
    amy.client_sends('{"type":"subscribe_presence","user_ids":[3, 5, 6, 7, 3]}')
    amy.client_sends('{"type":"subscribe_presence","user_ids":[3, 5, 6, 3]}')  # 3 distinct: ok
    await world.settle(amy)

    errors = of(amy, "error")
    assert [e["code"] for e in errors] == ["too_many_subscriptions"]
    assert "at most 3" in str(errors[0]["message"])
    await world.connect(CAT)
    await until(lambda: len(of(amy, "presence")) == 1, "cat online")
    assert of(amy, "presence")[0]["user_id"] == CAT


async def test_a_closed_socket_stops_following(world: World) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[2, 3]}')
    await world.settle(amy)
    assert len(world.subscriptions) == 1

    leave(amy)
    await until(lambda: world.gateway.registry.get(AMY, "d") is None, "amy gone")

    assert len(world.subscriptions) == 0
    await world.connect(BOB)
    assert of(amy, "presence") == []


async def test_an_empty_list_follows_nobody(world: World) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[2]}')
    amy.client_sends('{"type":"subscribe_presence","user_ids":[]}')
    await world.settle(amy)

    await world.connect(BOB)
    await world.settle(amy)

    assert of(amy, "presence") == []
    assert len(world.subscriptions) == 0


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (Unavailable("the database does not answer"), "unavailable"),
        (RuntimeError("bug"), "unavailable"),
    ],
)
async def test_a_failed_lookup_is_an_error_frame_and_keeps_the_previous_set(
    world: World, failure: Exception, code: str
) -> None:
    amy = await world.connect(AMY)
    amy.client_sends('{"type":"subscribe_presence","user_ids":[2]}')
    await world.settle(amy)
    world.contacts.failure = failure
    amy.client_sends('{"type":"subscribe_presence","user_ids":[3]}')
    await world.settle(amy)

    assert [e["code"] for e in of(amy, "error")] == [code]
    await world.connect(BOB)
    await until(lambda: len(of(amy, "presence")) == 1, "bob online")
    assert of(amy, "presence")[0]["user_id"] == BOB
