"""Contract of identity's ``SessionStore``: one live session per (user, device)."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.modules.identity.ports import SessionRecord, SessionStore
from gomicroim.modules.identity.storage import SqlSessionStore
from tests.contract.conftest import Backend
from tests.fakes import MemorySessionStore

NOW = 1_700_000_000_000
DAY = 86_400_000


@pytest.fixture
def sessions(backend: Backend) -> SessionStore:
    return SqlSessionStore() if backend.sql else MemorySessionStore()


async def _open(
    sessions: SessionStore,
    user_id: int = 1,
    device_id: str = "phone",
    refresh_hash: str = "a" * 64,
    now: int = NOW,
) -> tuple[SessionRecord, list[int]]:
    return await sessions.open(
        user_id=user_id,
        device_id=device_id,
        client_type="app",
        refresh_hash=refresh_hash,
        refresh_expires_at=now + DAY,
        now_ms=now,
    )


async def test_open_returns_a_live_session_that_get_finds(sessions: SessionStore) -> None:
    session, ended = await _open(sessions)

    assert ended == []
    assert session.id >= 1
    assert (
        session.user_id,
        session.device_id,
        session.client_type,
        session.refresh_hash,
        session.refresh_expires_at,
        session.revoked_at,
    ) == (1, "phone", "app", "a" * 64, NOW + DAY, None)
    assert await sessions.get(session.id) == session


async def test_unknown_session_is_none(sessions: SessionStore) -> None:
    assert await sessions.get(424242) is None


async def test_new_login_on_a_device_ends_its_previous_session(sessions: SessionStore) -> None:
    first, _ = await _open(sessions)

    second, ended = await _open(sessions, refresh_hash="b" * 64, now=NOW + 10)

    assert ended == [first.id]
    assert second.id != first.id
    old = await sessions.get(first.id)
    assert old is not None
    assert old.revoked_at == NOW + 10
    new = await sessions.get(second.id)
    assert new is not None
    assert new.revoked_at is None


async def test_login_on_another_device_or_by_another_user_ends_nothing(
    sessions: SessionStore,
) -> None:
    first, _ = await _open(sessions, user_id=1, device_id="phone")

    _, ended_other_device = await _open(sessions, user_id=1, device_id="laptop")
    _, ended_other_user = await _open(sessions, user_id=2, device_id="phone")

    assert ended_other_device == []
    assert ended_other_user == []
    still = await sessions.get(first.id)
    assert still is not None
    assert still.revoked_at is None


async def test_concurrent_logins_of_one_device_leave_one_live_session(
    sessions: SessionStore,
) -> None:
    # Several rounds, because a lost race does not show every time.
    live_per_round = []
    for device in ("d0", "d1", "d2", "d3", "d4"):
        results = await asyncio.gather(
            *(_open(sessions, device_id=device, refresh_hash=f"{i:064d}") for i in range(10))
        )
        found = [await sessions.get(s.id) for s, _ in results]
        live_per_round.append(sum(1 for s in found if s is not None and s.revoked_at is None))

    assert live_per_round == [1] * 5, f"live sessions per device: {live_per_round}"


async def test_set_refresh_swaps_only_from_the_expected_hash(sessions: SessionStore) -> None:
    session, _ = await _open(sessions, refresh_hash="a" * 64)

    assert await sessions.set_refresh(
        session.id, expected_hash="a" * 64, new_hash="b" * 64, refresh_expires_at=NOW + 2 * DAY
    )
    assert not await sessions.set_refresh(
        session.id, expected_hash="a" * 64, new_hash="c" * 64, refresh_expires_at=NOW + 3 * DAY
    )

    now = await sessions.get(session.id)
    assert now is not None
    assert (now.refresh_hash, now.refresh_expires_at) == ("b" * 64, NOW + 2 * DAY)


async def test_set_refresh_fails_on_an_ended_or_unknown_session(sessions: SessionStore) -> None:
    session, _ = await _open(sessions)
    await sessions.revoke(session.id, NOW + 1)

    assert not await sessions.set_refresh(
        session.id, expected_hash="a" * 64, new_hash="b" * 64, refresh_expires_at=NOW + DAY
    )
    assert not await sessions.set_refresh(
        424242, expected_hash="a" * 64, new_hash="b" * 64, refresh_expires_at=NOW + DAY
    )
    ended = await sessions.get(session.id)
    assert ended is not None
    assert ended.refresh_hash == "a" * 64


async def test_exactly_one_of_concurrent_swaps_wins(sessions: SessionStore) -> None:
    session, _ = await _open(sessions, refresh_hash="a" * 64)

    results = await asyncio.gather(
        *(
            sessions.set_refresh(
                session.id,
                expected_hash="a" * 64,
                new_hash=f"{i:064d}",
                refresh_expires_at=NOW + DAY,
            )
            for i in range(2)
        )
    )

    assert sorted(results) == [False, True]
    winner = results.index(True)
    now = await sessions.get(session.id)
    assert now is not None
    assert now.refresh_hash == f"{winner:064d}"


async def test_revoke_ends_a_session_once(sessions: SessionStore) -> None:
    session, _ = await _open(sessions)

    assert await sessions.revoke(session.id, NOW + 5)
    assert not await sessions.revoke(session.id, NOW + 9)

    ended = await sessions.get(session.id)
    assert ended is not None
    assert ended.revoked_at == NOW + 5


async def test_revoked_since_lists_sessions_ended_at_or_after_the_time(
    sessions: SessionStore,
) -> None:
    early, _ = await _open(sessions, device_id="a")
    edge, _ = await _open(sessions, device_id="b")
    late, _ = await _open(sessions, device_id="c")
    await _open(sessions, device_id="live")
    await sessions.revoke(early.id, NOW + 99)
    await sessions.revoke(edge.id, NOW + 100)
    await sessions.revoke(late.id, NOW + 500)

    assert sorted(await sessions.revoked_since(NOW + 100)) == sorted([edge.id, late.id])
    assert await sessions.revoked_since(NOW + 501) == []


async def test_sessions_ended_by_a_new_login_count_as_revoked(sessions: SessionStore) -> None:
    first, _ = await _open(sessions, now=NOW)
    await _open(sessions, now=NOW + 50)

    assert await sessions.revoked_since(NOW + 50) == [first.id]
