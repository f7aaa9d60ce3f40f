"""Gateway over an in-memory socket: hello first, session ends, reauth, frame budget, caps."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from gomicroim.errors import Unauthenticated
from gomicroim.gateway.budget import FrameBudget, Verdict
from gomicroim.gateway.contract import Push, PushBatch, PushTarget
from gomicroim.gateway.ports import ConnectionSlot
from gomicroim.gateway.protocol import DETACH
from gomicroim.gateway.quota import MemoryConnectionQuota
from gomicroim.gateway.service import Gateway
from gomicroim.gateway.waiting import Inbox
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.identity.contract import Principal, SessionEnded
from tests.fakes.presence import memory_presence


class FakeSocket:
    """The part of Litestar's WebSocket the gateway uses; records what was sent.

    ``detachable`` offers the gateway our uvicorn protocol's detach: the app returns and the
    socket is read without it. Every test here runs both ways.
    """

    def __init__(self, token: str | None, *, detachable: bool = False):
        self.scope: dict[str, Any] = {"extensions": {}}
        if detachable:
            self.scope["extensions"][DETACH] = self.detach
        self.query_params = {"token": token} if token else {}
        self.headers: dict[str, str] = {}
        self.client = SimpleNamespace(host="10.0.0.1")
        self.inbox: Inbox[dict[str, Any]] = Inbox()
        self.sent: list[dict[str, Any]] = []

    def detach(self, on_input: Callable[[], None]) -> FakeSocket:
        self.inbox.on_put = on_input
        return self

    def pending(self) -> int:
        return self.inbox.qsize()

    async def accept(self) -> None:
        self.sent.append({"type": "websocket.accept"})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.send({"type": "websocket.close", "code": code, "reason": reason})

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, event: dict[str, Any]) -> None:
        self.sent.append(dict(event))
        if event["type"] == "websocket.close":
            self.inbox.put_nowait({"type": "websocket.disconnect"})

    def client_sends(self, text: str) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": text})

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(e["text"]) for e in self.sent if e["type"] == "websocket.send"]

    def closed(self) -> tuple[int, str | None] | None:
        close = next((e for e in self.sent if e["type"] == "websocket.close"), None)
        return None if close is None else (close["code"], close["reason"])


class FakeIdentity:
    """``authenticate`` over a token table; tokens can be revoked."""

    def __init__(self) -> None:
        self.tokens: dict[str, Principal] = {}
        self.revoked: set[int] = set()

    def issue(self, token: str, user_id: int, device_id: str, session_id: int, **kw: Any) -> None:
        self.tokens[token] = Principal(
            user_id=user_id, device_id=device_id, session_id=session_id, client_type="app", **kw
        )

    async def authenticate(self, access_token: str) -> Principal:
        principal = self.tokens.get(access_token)
        if principal is None:
            raise Unauthenticated("access token is not valid", code="invalid_token")
        if principal.session_id in self.revoked:
            raise Unauthenticated("session has ended; log in again", code="token_revoked")
        return principal


class GatedTimeline:
    """``latest_seq`` waits until the test opens the gate: a slow hello."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()

    async def latest_seq(self, user_id: int) -> int:
        await self.gate.wait()
        return 4


class SlowToForget:
    """Presence whose ``disconnected`` takes a while, as a remote store's can."""

    def __init__(self, delay_s: float) -> None:
        self._inner = memory_presence()[0]
        self._delay_s = delay_s
        self.forgotten = 0

    async def disconnected(self, connection: Any) -> None:
        await asyncio.sleep(self._delay_s)
        await self._inner.disconnected(connection)
        self.forgotten += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class World:
    def __init__(self, *, detachable: bool, **limits: Any) -> None:
        self.detachable = detachable
        self.presence = SlowToForget(limits.pop("forget_s", 0.0))
        self.identity = FakeIdentity()
        self.timeline = GatedTimeline()
        self.events: LocalBroadcast[SessionEnded] = LocalBroadcast("session_ended")
        self.quota = MemoryConnectionQuota(
            per_user=limits.pop("per_user", 0), per_ip=limits.pop("per_ip", 0)
        )
        self.gateway = Gateway(
            node_id="n1",
            identity=self.identity,  # type: ignore[arg-type]
            presence=self.presence,  # type: ignore[arg-type]
            timeline=self.timeline,  # type: ignore[arg-type]
            session_events=self.events,
            quota=self.quota,
            idle_timeout_s=30,
            max_pending_bytes=1 << 20,
            max_frames_per_second=limits.pop("rate", 0),
            frame_burst=limits.pop("burst", 10),
        )
        self.tasks: list[asyncio.Task[None]] = []

    def connect(self, token: str | None) -> FakeSocket:
        socket = FakeSocket(token, detachable=self.detachable)
        self.tasks.append(asyncio.create_task(self.gateway.serve(socket)))  # type: ignore[arg-type]
        return socket


@pytest.fixture(params=["read-in-app-task", "detached"])
async def world(request: pytest.FixtureRequest) -> Any:
    created: list[World] = []

    def make(**limits: Any) -> World:
        created.append(World(detachable=request.param == "detached", **limits))
        return created[-1]

    yield make
    for w in created:
        for task in w.tasks:
            task.cancel()
        await asyncio.gather(*(t for w in created for t in w.tasks), return_exceptions=True)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 2
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.001)


def push_to(user_id: int, device_id: str, seq: int) -> PushBatch:
    payload = msgspec.Raw(msgspec.json.encode({"conversation_id": "s:1:2", "seq": seq}))
    target = PushTarget(user_id=user_id, device_id=device_id, user_seq=seq)
    return PushBatch(
        node_id="n1", created_at=0, pushes=[Push(kind="message", payload=payload, targets=[target])]
    )


async def test_a_push_routed_while_the_hello_is_prepared_comes_after_it(world: Any) -> None:
    w = world()
    w.identity.issue("t", 1, "phone", 10)
    w.timeline.gate.clear()
    socket = w.connect("t")
    await until(lambda: w.gateway.registry.get(1, "phone") is not None, "registered")

    await w.gateway.route(push_to(1, "phone", 5))
    await asyncio.sleep(0.01)
    assert socket.frames() == [], "nothing may go out before the hello"
    w.timeline.gate.set()

    await until(lambda: len(socket.frames()) == 2, "hello and the push")
    assert [f["type"] for f in socket.frames()] == ["hello", "message"]
    assert socket.frames()[0]["latest_user_seq"] == 4


async def test_an_ended_session_closes_its_socket_only(world: Any) -> None:
    w = world()
    w.identity.issue("old", 1, "phone", 10)
    w.identity.issue("tablet", 1, "tablet", 11)
    phone = w.connect("old")
    tablet = w.connect("tablet")
    await until(lambda: len(phone.frames()) == 1 and len(tablet.frames()) == 1, "hellos")

    # Another session of the same device ending does not touch this socket.
    await w.events.publish(
        SessionEnded(session_id=99, user_id=1, device_id="phone", reason="logout", ended_at=0)
    )
    assert phone.closed() is None
    await w.events.publish(
        SessionEnded(session_id=10, user_id=1, device_id="phone", reason="logout", ended_at=0)
    )

    await until(lambda: phone.closed() is not None, "closed")
    assert phone.closed() == (4401, "token_revoked")
    assert phone.frames()[-1]["type"] == "kick"
    assert "logout" in phone.frames()[-1]["reason"]
    assert tablet.closed() is None


async def test_a_session_that_ends_during_the_handshake_gets_4401_and_no_hello(
    world: Any,
) -> None:
    w = world()
    w.identity.issue("t", 1, "phone", 10)
    w.timeline.gate.clear()
    socket = w.connect("t")
    await until(lambda: w.gateway.registry.get(1, "phone") is not None, "registered")
    w.identity.revoked.add(10)
    await w.events.publish(
        SessionEnded(session_id=10, user_id=1, device_id="phone", reason="logout", ended_at=0)
    )
    w.timeline.gate.set()

    await until(lambda: socket.closed() is not None, "closed")
    assert socket.closed() == (4401, "token_revoked")
    assert [f["type"] for f in socket.frames()] in ([], ["kick"])


async def test_reauth_needs_a_valid_token_of_the_same_user_and_device(world: Any) -> None:
    w = world()
    soon = int(time.time() * 1000) + 60_000
    later = soon + 600_000
    w.identity.issue("t", 1, "phone", 10, expires_at=soon)
    w.identity.issue("fresh", 1, "phone", 10, expires_at=later)
    w.identity.issue("other-device", 1, "tablet", 11, expires_at=later)
    w.identity.issue("other-user", 2, "phone", 12, expires_at=later)
    socket = w.connect("t")
    await until(lambda: len(socket.frames()) == 1, "hello")

    for token in ("nope", "other-device", "other-user", "fresh"):
        socket.client_sends(json.dumps({"type": "reauth", "access_token": token}))
    await until(lambda: len(socket.frames()) == 5, "four answers")

    answers = [(f["type"], f.get("code")) for f in socket.frames()[1:]]
    assert answers == [
        ("error", "invalid_token"),
        ("error", "token_mismatch"),
        ("error", "token_mismatch"),
        ("reauthed", None),
    ]
    assert socket.frames()[-1]["access_expires_at"] == later
    connection = w.gateway.registry.get(1, "phone")
    assert connection is not None
    assert connection.principal.expires_at == later


async def test_an_expired_token_closes_the_socket_4401(world: Any) -> None:
    w = world()
    w.identity.issue("t", 1, "phone", 10, expires_at=int(time.time() * 1000) + 50)
    socket = w.connect("t")
    await until(lambda: socket.closed() is not None, "closed at expiry")
    assert socket.closed() == (4401, "token_expired")
    assert [f["type"] for f in socket.frames()] == ["hello", "kick"]


async def test_a_flood_is_refused_then_closed_4429(world: Any) -> None:
    w = world(rate=1, burst=3)
    w.identity.issue("t", 1, "phone", 10)
    socket = w.connect("t")
    await until(lambda: len(socket.frames()) == 1, "hello")
    for _ in range(20):
        socket.client_sends('{"type":"ping"}')
    await until(lambda: socket.closed() is not None, "closed")

    kinds = [f.get("code", f["type"]) for f in socket.frames()]
    assert kinds == [
        "hello",
        "pong",
        "pong",
        "pong",
        "rate_limited",
        "rate_limited",
        "rate_limited",
        "kick",
    ]
    assert socket.closed() == (4429, "too many frames")


async def test_connections_over_a_cap_are_refused_with_http_429(world: Any) -> None:
    w = world(per_user=1)
    w.identity.issue("a", 1, "phone", 10)
    w.identity.issue("b", 1, "tablet", 11)
    first = w.connect("a")
    await until(lambda: len(first.frames()) == 1, "hello")
    second = w.connect("b")
    second.scope["extensions"]["websocket.http.response"] = {}
    second.inbox.put_nowait({"type": "websocket.connect"})
    await until(lambda: len(second.sent) == 2, "an HTTP answer")

    start, body = second.sent
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 429
    assert dict(start["headers"])[b"retry-after"] == b"10"
    assert json.loads(body["body"])["error"]["code"] == "too_many_connections"


async def test_a_closed_socket_frees_its_slot_and_shutdown_ends_every_socket(world: Any) -> None:
    w = world(per_user=1, forget_s=0.2)
    w.identity.issue("a", 1, "phone", 10)
    first = w.connect("a")
    await until(lambda: len(first.frames()) == 1, "hello")
    first.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await until(lambda: w.presence.forgotten == 1, "the first socket ended")

    again = w.connect("a")  # the cap of one is free again
    await until(lambda: len(again.frames()) == 1, "hello on the freed slot")
    assert await w.gateway.close_all(1001, "server shutting down", 1.0) == 1
    if not w.detachable:
        # The server waits for its app tasks; a detached socket has none, so close_all waits.
        await asyncio.gather(*w.tasks)
    # Returned only once the socket's end ran: unregistered, forgotten, its slot given back.
    assert len(w.gateway.registry) == 0
    assert w.presence.forgotten == 2
    assert again.closed() == (1001, "server shutting down")
    other_device = ConnectionSlot(user_id=1, device_id="tablet", ip="10.0.0.1")
    assert await w.quota.acquire(other_device) is None


def test_the_frame_budget_allows_bursts_refuses_then_closes_a_sustained_flood() -> None:
    budget = FrameBudget(rate=10, burst=5, now=0.0)
    assert [budget.take(0.0) for _ in range(5)] == [Verdict.HANDLE] * 5
    assert budget.take(0.0) is Verdict.REFUSE
    assert budget.take(0.1) is Verdict.HANDLE  # a token earned back
    verdicts = [budget.take(0.1) for _ in range(6)]
    assert verdicts == [Verdict.REFUSE] * 5 + [Verdict.CLOSE]
    # A client that slows down is forgiven.
    calm = FrameBudget(rate=10, burst=5, now=0.0)
    for n in range(200):
        assert calm.take(n * 0.1) is Verdict.HANDLE
    assert FrameBudget(rate=0, burst=1, now=0).take(0) is Verdict.HANDLE


async def test_a_broadcast_reaches_every_subscriber_even_past_a_failing_one() -> None:
    broadcast: LocalBroadcast[int] = LocalBroadcast("numbers")
    heard: list[tuple[str, int]] = []

    async def first(n: int) -> None:
        heard.append(("first", n))

    async def failing(n: int) -> None:
        raise RuntimeError("subscriber bug")

    async def last(n: int) -> None:
        heard.append(("last", n))

    for handler in (first, failing, last):
        broadcast.subscribe(handler)
    await broadcast.publish(1)
    await broadcast.publish(2)
    assert heard == [("first", 1), ("last", 1), ("first", 2), ("last", 2)]
