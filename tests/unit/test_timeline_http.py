"""``GET /api/v1/sync`` through Litestar: authentication, parameters and the answer's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from gomicroim.app import create_app
from gomicroim.config import Settings
from gomicroim.container import Container
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.identity.contract import LoginRequest, UserCreate
from tests.fakes.asgi import serving
from tests.fakes.world import JWT_SECRET, World

NOW = 1_700_000_000_000


@dataclass(frozen=True)
class Caller:
    user_id: int
    token: str


@dataclass(frozen=True)
class Users:
    alice: Caller
    bob: Caller


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
def container(make_settings: Callable[..., Settings]) -> Container:
    """The app's own container for an API process, over fakes, with small sync pages."""
    settings = make_settings(
        server={"roles": ["api"]},
        timeline={"max_sync_page": 4, "default_sync_page": 2},
        limits={"requests_per_second": 0},
    )
    return World().wire(Container(settings=settings, jwt_secret=JWT_SECRET))


async def login(container: Container, username: str) -> Caller:
    """Register and log in ``username``."""
    identity = container.identity.service()
    user = await identity.register(UserCreate(username=username, password="pw-" * 4))
    tokens = await identity.login(
        LoginRequest(username=username, password="pw-" * 4, device_id="phone", client_type="app")
    )
    return Caller(user.id, tokens.access_token)


@pytest.fixture
async def users(container: Container) -> Users:
    return Users(await login(container, "alice"), await login(container, "bob"))


@pytest.fixture
async def client(container: Container, users: Users) -> AsyncIterator[httpx.AsyncClient]:
    """The app as ``create_app`` builds it; alice holds seqs 1-5, bob 1-4."""
    timeline = container.timeline.service()
    both = {users.alice.user_id, users.bob.user_id}
    for seq in range(1, 6):
        await timeline.append(message(seq, users), {users.alice.user_id} if seq == 5 else both)
    async with serving(create_app(container.settings(), container)) as test_client:
        yield test_client


async def sync(client: httpx.AsyncClient, caller: Caller, **params: Any) -> Any:
    return await client.get(
        "/api/v1/sync", params=params, headers={"Authorization": f"Bearer {caller.token}"}
    )


async def test_sync_answers_the_callers_timeline_with_the_default_page(
    client: httpx.AsyncClient, users: Users
) -> None:
    response = await sync(client, users.alice)

    assert response.status_code == 200
    assert response.json() == {
        "entries": [
            {
                "user_seq": seq,
                "message": msgspec.to_builtins(message(seq, users)),
                "kind": "message",
            }
            for seq in (1, 2)
        ],
        "latest_seq": 5,
        "has_more": True,
    }


async def test_sync_pages_after_a_cursor(client: httpx.AsyncClient, users: Users) -> None:
    response = await sync(client, users.alice, after=2, limit=4)

    body = response.json()
    assert [e["user_seq"] for e in body["entries"]] == [3, 4, 5]
    assert body["has_more"] is False


async def test_each_user_sees_only_their_own_timeline(
    client: httpx.AsyncClient, users: Users
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
    client: httpx.AsyncClient, users: Users, params: dict[str, Any]
) -> None:
    response = await sync(client, users.alice, **params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["field"] == next(iter(params))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
async def test_sync_needs_a_valid_access_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/sync", headers=headers)

    assert response.status_code == 401
