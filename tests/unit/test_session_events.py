"""Identity announces every ended session, after revoking it, with who and why."""

from __future__ import annotations

import pytest

from gomicroim.clock import now_ms
from gomicroim.errors import Unauthenticated
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.identity.contract import LoginRequest, SessionEnded, UserCreate
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.identity.tokens import AccessTokens
from tests.fakes import FakeClock, FakeHasher, MemorySessionStore, MemoryUserStore

PASSWORD = "correct horse battery"


class Recorder:
    """A subscriber that also checks the session is already refused when it hears of it."""

    def __init__(self, revocations: MemoryRevocationList):
        self.revocations = revocations
        self.events: list[SessionEnded] = []
        self.refused_when_heard: list[bool] = []

    async def __call__(self, event: SessionEnded) -> None:
        self.events.append(event)
        self.refused_when_heard.append(await self.revocations.is_revoked(event.session_id))


@pytest.fixture
async def setup() -> tuple[IdentityService, Recorder]:
    events: LocalBroadcast[SessionEnded] = LocalBroadcast("session_ended")
    revocations = MemoryRevocationList()
    identity = IdentityService(
        users=MemoryUserStore(),
        sessions=MemorySessionStore(),
        revocations=revocations,
        hasher=FakeHasher(),
        tokens=AccessTokens("unit-test-secret-0123456789abcdef", 15 * 60_000),
        refresh_ttl_ms=3_600_000,
        clock=FakeClock(now_ms() - 60_000),
        events=events,
    )
    await identity.start()
    await identity.register(UserCreate(username="alice", password=PASSWORD))
    recorder = Recorder(revocations)
    events.subscribe(recorder)
    return identity, recorder


def login(device_id: str = "phone") -> LoginRequest:
    return LoginRequest(username="alice", password=PASSWORD, device_id=device_id, client_type="app")


async def test_logout_announces_the_session(setup: tuple[IdentityService, Recorder]) -> None:
    identity, recorder = setup
    pair = await identity.login(login())
    principal = await identity.authenticate(pair.access_token)

    await identity.logout(principal)

    assert [(e.session_id, e.user_id, e.device_id, e.reason) for e in recorder.events] == [
        (principal.session_id, principal.user_id, "phone", "logout")
    ]
    assert recorder.refused_when_heard == [True]


async def test_a_new_login_of_the_device_announces_the_replaced_session(
    setup: tuple[IdentityService, Recorder],
) -> None:
    identity, recorder = setup
    old = await identity.authenticate((await identity.login(login())).access_token)
    await identity.login(login("tablet"))
    assert recorder.events == []

    await identity.login(login())

    assert [(e.session_id, e.device_id, e.reason) for e in recorder.events] == [
        (old.session_id, "phone", "replaced")
    ]
    assert recorder.refused_when_heard == [True]


async def test_refresh_token_reuse_announces_the_session(
    setup: tuple[IdentityService, Recorder],
) -> None:
    identity, recorder = setup
    first = await identity.login(login())
    session_id = (await identity.authenticate(first.access_token)).session_id
    await identity.refresh(first.refresh_token)
    assert recorder.events == []

    with pytest.raises(Unauthenticated):
        await identity.refresh(first.refresh_token)

    assert [(e.session_id, e.reason) for e in recorder.events] == [
        (session_id, "refresh_token_reused")
    ]
    assert recorder.refused_when_heard == [True]
