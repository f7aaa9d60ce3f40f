"""Sessions another process ended take effect in this one: tokens refused, sockets told."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gomicroim.clock import now_ms
from gomicroim.errors import Unauthenticated
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.identity.contract import LoginRequest, SessionEnded, UserCreate
from gomicroim.modules.identity.ending import SessionEnding
from gomicroim.modules.identity.revocation_poll import OVERLAP_MS, PAGE, RevocationPoller
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.identity.tokens import AccessTokens
from tests.fakes import FakeClock, FakeHasher, MemorySessionStore, MemoryUserStore

PASSWORD = "correct horse battery"
TOKENS = AccessTokens("unit-test-secret-0123456789abcdef", 900_000)


@dataclass
class Process:
    """One server process: its own revocation list and session-event broadcast."""

    identity: IdentityService
    poller: RevocationPoller
    heard: list[SessionEnded] = field(default_factory=list)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now_ms() - 600_000)


@pytest.fixture
def stores() -> tuple[MemoryUserStore, MemorySessionStore]:
    return MemoryUserStore(), MemorySessionStore()


def process(stores: tuple[MemoryUserStore, MemorySessionStore], clock: FakeClock) -> Process:
    users, sessions = stores
    revocations = MemoryRevocationList()
    events: LocalBroadcast[SessionEnded] = LocalBroadcast("session_ended")
    ending = SessionEnding(revocations=revocations, events=events, validity_ms=900_000)
    made = Process(
        identity=IdentityService(
            users=users,
            sessions=sessions,
            revocations=revocations,
            hasher=FakeHasher(),
            tokens=TOKENS,
            refresh_ttl_ms=86_400_000,
            clock=clock,
            events=events,
        ),
        poller=RevocationPoller(
            sessions=sessions, revocations=revocations, ending=ending, interval_s=1, clock=clock
        ),
    )

    async def hear(event: SessionEnded) -> None:
        made.heard.append(event)

    events.subscribe(hear)
    return made


async def login(identity: IdentityService, device_id: str) -> str:
    pair = await identity.login(
        LoginRequest(username="alice", password=PASSWORD, device_id=device_id, client_type="app")
    )
    return pair.access_token


async def test_a_session_ended_elsewhere_is_refused_and_announced_after_one_look(
    stores: tuple[MemoryUserStore, MemorySessionStore], clock: FakeClock
) -> None:
    server, other = process(stores, clock), process(stores, clock)
    await server.identity.register(UserCreate(username="alice", password=PASSWORD))
    token = await login(server.identity, "phone")
    principal = await server.identity.authenticate(token)
    clock.advance(10)

    await other.identity.logout(principal)  # the server has not heard of it yet
    assert (await server.identity.authenticate(token)).session_id == principal.session_id

    assert await server.poller.poll_once() == 1

    with pytest.raises(Unauthenticated) as refused:
        await server.identity.authenticate(token)
    assert refused.value.code == "token_revoked"
    [event] = server.heard
    assert (event.session_id, event.device_id, event.reason) == (
        principal.session_id,
        "phone",
        "logout",
    )
    # Looking again announces nothing twice.
    clock.advance(1000)
    assert await server.poller.poll_once() == 0
    assert len(server.heard) == 1


async def test_sessions_this_process_ended_are_not_announced_again(
    stores: tuple[MemoryUserStore, MemorySessionStore], clock: FakeClock
) -> None:
    server = process(stores, clock)
    await server.identity.register(UserCreate(username="alice", password=PASSWORD))
    token = await login(server.identity, "phone")
    await server.identity.logout(await server.identity.authenticate(token))
    await login(server.identity, "laptop")
    await login(server.identity, "laptop")  # replaces the first laptop session
    assert [e.reason for e in server.heard] == ["logout", "replaced"]

    assert await server.poller.poll_once() == 0
    assert [e.reason for e in server.heard] == ["logout", "replaced"]


async def test_the_stored_reason_travels_with_the_announcement(
    stores: tuple[MemoryUserStore, MemorySessionStore], clock: FakeClock
) -> None:
    server = process(stores, clock)
    await server.identity.register(UserCreate(username="alice", password=PASSWORD))
    await login(server.identity, "phone")
    user = await stores[0].by_username("alice")
    assert user is not None
    # What an operator's command in another process writes.
    await stores[1].end_all_of(user.id, clock(), "user_disabled")

    await server.poller.poll_once()

    assert [(e.user_id, e.reason) for e in server.heard] == [(user.id, "user_disabled")]


async def test_a_session_whose_end_commits_late_is_still_seen(
    stores: tuple[MemoryUserStore, MemorySessionStore], clock: FakeClock
) -> None:
    server = process(stores, clock)
    server.poller.start()
    await server.poller.stop()
    await server.identity.register(UserCreate(username="alice", password=PASSWORD))
    await login(server.identity, "phone")
    await server.poller.poll_once()
    # Ended "before" the last look by its own clock, but only visible now.
    session = next(iter(stores[1]._sessions.values()))
    await stores[1].revoke(session.id, clock() - OVERLAP_MS // 2, "logout")

    assert await server.poller.poll_once() == 1


async def test_a_backlog_larger_than_a_page_sharing_one_timestamp_is_read_whole(
    stores: tuple[MemoryUserStore, MemorySessionStore], clock: FakeClock
) -> None:
    server = process(stores, clock)
    _, sessions = stores
    count = PAGE + 7
    for n in range(count):
        await sessions.open(
            user_id=1,
            device_id=f"d{n}",
            client_type="app",
            refresh_hash="x" * 64,
            refresh_expires_at=clock() + 1,
            now_ms=clock(),
        )
    clock.advance(5)
    ended = await sessions.end_all_of(1, clock(), "user_disabled")
    assert len(ended) == count

    assert await server.poller.poll_once() == count
    assert len({e.session_id for e in server.heard}) == count
