"""``GET /api/v1/sync`` through Litestar: authentication, parameters and the answer's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.testing import AsyncTestClient

from gomicroim.clock import now_ms
from gomicroim.http.auth import BearerAuthMiddleware
from gomicroim.http.errors import EXCEPTION_HANDLERS
from gomicroim.http.ratelimit import RateLimiter
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.identity.contract import LoginRequest, UserCreate
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.identity.tokens import AccessTokens
from gomicroim.modules.timeline.http import SyncController
from gomicroim.modules.timeline.service import TimelineService
from tests.fakes import FakeClock, FakeHasher, MemorySessionStore, MemoryUserStore
from tests.fakes.timeline import MemoryTimelineStore

NOW = 1_700_000_000_000


@pytest.fixture
async def identity() -> IdentityService:
    service = IdentityService(
        users=MemoryUserStore(),
        sessions=MemorySessionStore(),
        revocations=MemoryRevocationList(),
        hasher=FakeHasher(),
        tokens=AccessTokens("unit-test-secret-0123456789abcdef", 15 * 60_000),
        refresh_ttl_ms=3_600_000,
        # PyJWT refuses an iat in the future; start the clock a little in the past.
        clock=FakeClock(now_ms() - 60_000),
    )
    await service.start()
    return service


async def login(identity: IdentityService, username: str) -> tuple[int, str]:
    """Register and log in ``username``; return the user id and an access token."""
    user = await identity.register(UserCreate(username=username, password="pw-" * 4))
    tokens = await identity.login(
        LoginRequest(username=username, password="pw-" * 4, device_id="phone", client_type="app")
    )
    return user.id, tokens.access_token


@dataclass(frozen=True)
class Caller:
    user_id: int
    token: str


@dataclass(frozen=True)
class Users:
    alice: Caller
    bob: Caller


@pytest.fixture
async def users(identity: IdentityService) -> Users:
    return Users(Caller(*await login(identity, "alice")), Caller(*await login(identity, "bob")))


def message(seq: int, users: Users) -> MessageRead:
    a, b = sorted((users.alice.user_id, users.bob.user_id))
    return MessageRead(
        conversation_id=f"s:{a}:{b}",
        seq=seq,
        sender_id=users.alice.user_id,
        to=users.bob.user_id,
        session_type="single",
        client_msg_id=f"c{seq}",
        msg_type="text",
        body=f"hello {seq}",
        created_at=NOW + seq,
    )


@pytest.fixture
async def client(
    identity: IdentityService, users: Users
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The sync route wired as the app wires it; alice holds seqs 1-5, bob 1-4."""
    timeline = TimelineService(
        store=MemoryTimelineStore(),
        retention_days=30,
        prune_interval_s=3600,
        max_sync_page=4,
        default_sync_page=2,
    )
    both = {users.alice.user_id, users.bob.user_id}
    for seq in range(1, 6):
        await timeline.append(message(seq, users), {users.alice.user_id} if seq == 5 else both)
    app = Litestar(
        route_handlers=[SyncController],
        dependencies={"timeline": Provide(lambda: timeline, sync_to_thread=False)},
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware, identity=identity, rate_limiter=RateLimiter(0, 1)
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def sync(client: AsyncTestClient[Litestar], caller: Caller, **params: Any) -> Any:
    return await client.get(
        "/api/v1/sync", params=params, headers={"Authorization": f"Bearer {caller.token}"}
    )


async def test_sync_answers_the_callers_timeline_with_the_default_page(
    client: AsyncTestClient[Litestar], users: Users
) -> None:
    response = await sync(client, users.alice)

    assert response.status_code == 200
    assert response.json() == {
        "entries": [
            {"user_seq": seq, "message": msgspec.to_builtins(message(seq, users))} for seq in (1, 2)
        ],
        "latest_seq": 5,
        "has_more": True,
    }


async def test_sync_pages_after_a_cursor(client: AsyncTestClient[Litestar], users: Users) -> None:
    response = await sync(client, users.alice, after=2, limit=4)

    body = response.json()
    assert [e["user_seq"] for e in body["entries"]] == [3, 4, 5]
    assert body["has_more"] is False


async def test_each_user_sees_only_their_own_timeline(
    client: AsyncTestClient[Litestar], users: Users
) -> None:
    body = (await sync(client, users.bob, limit=4)).json()

    assert [e["message"]["seq"] for e in body["entries"]] == [1, 2, 3, 4]
    assert body["latest_seq"] == 4
    assert body["has_more"] is False


@pytest.mark.parametrize(
    "params",
    [{"limit": 5}, {"limit": 0}, {"limit": "x"}, {"after": -1}, {"after": "x"}, {"after": 2**53}],
)
async def test_bad_parameters_are_answered_with_400(
    client: AsyncTestClient[Litestar], users: Users, params: dict[str, Any]
) -> None:
    response = await sync(client, users.alice, **params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["field"] == next(iter(params))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
async def test_sync_needs_a_valid_access_token(
    client: AsyncTestClient[Litestar], headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/sync", headers=headers)

    assert response.status_code == 401
