"""Contract of what operator controls store: invites, disabled users, passwords, ended sessions.

Registration takes an invite's use in the user's transaction: a refused invite or a taken
username leaves both unchanged, and racing registrations (on MariaDB, really concurrent
connections) never take more uses than the invite has.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from gomicroim.modules.identity.ports import (
    InviteNotUsable,
    InviteStore,
    SessionStore,
    UsernameTaken,
    UserStore,
)
from gomicroim.modules.identity.storage import SqlInviteStore, SqlSessionStore, SqlUserStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryInviteStore, MemorySessionStore, MemoryUserStore

NOW = 1_700_000_000_000
HASH = "a" * 64


@dataclass
class Stores:
    users: UserStore
    invites: InviteStore
    sessions: SessionStore


@pytest.fixture
def stores(backend: Backend) -> Stores:
    if backend.sql:
        return Stores(SqlUserStore(), SqlInviteStore(), SqlSessionStore())
    invites = MemoryInviteStore()
    return Stores(MemoryUserStore(invites), invites, MemorySessionStore())


async def register(stores: Stores, username: str, invite_hash: str | None = HASH, now: int = NOW):  # type: ignore[no-untyped-def]
    return await stores.users.create(
        username=username, nickname=username, password_hash="h", now_ms=now, invite_hash=invite_hash
    )


async def make_invite(stores: Stores, max_uses: int = 1, expires_at: int | None = None) -> int:
    invite = await stores.invites.create(
        code_hash=HASH, max_uses=max_uses, expires_at=expires_at, note="for the team", now_ms=NOW
    )
    return invite.id


async def test_an_invite_is_stored_unused_and_found_by_id_and_hash(stores: Stores) -> None:
    invite = await stores.invites.create(
        code_hash=HASH, max_uses=3, expires_at=NOW + 10, note="ünïcode note", now_ms=NOW
    )
    assert (invite.uses, invite.max_uses, invite.expires_at, invite.note, invite.created_at) == (
        0,
        3,
        NOW + 10,
        "ünïcode note",
        NOW,
    )
    assert invite.revoked_at is None
    assert await stores.invites.get(invite.id) == invite
    assert await stores.invites.by_hash(HASH) == invite
    assert await stores.invites.by_hash("b" * 64) is None
    assert await stores.invites.get(invite.id + 1000) is None


async def test_invites_list_newest_first_up_to_the_limit(stores: Stores) -> None:
    ids = [
        (
            await stores.invites.create(
                code_hash=f"{n:064x}", max_uses=1, expires_at=None, note="", now_ms=NOW + n
            )
        ).id
        for n in range(4)
    ]
    assert [i.id for i in await stores.invites.newest(3)] == ids[::-1][:3]


async def test_revoking_keeps_the_first_time_and_unknown_is_none(stores: Stores) -> None:
    invite_id = await make_invite(stores)
    first = await stores.invites.revoke(invite_id, NOW + 5)
    again = await stores.invites.revoke(invite_id, NOW + 9)
    assert first is not None
    assert again is not None
    assert first.revoked_at == again.revoked_at == NOW + 5
    assert await stores.invites.revoke(invite_id + 1000, NOW) is None


async def test_registration_takes_one_use_per_account(stores: Stores) -> None:
    invite_id = await make_invite(stores, max_uses=2)

    await register(stores, "alice")
    await register(stores, "bob")
    with pytest.raises(InviteNotUsable) as refused:
        await register(stores, "carol")

    assert refused.value.invite is not None
    assert (refused.value.invite.id, refused.value.invite.uses) == (invite_id, 2)
    assert await stores.users.by_username("carol") is None


@pytest.mark.parametrize(
    ("expires_at", "revoke", "expected_uses"),
    [(NOW, False, 0), (NOW - 1, False, 0), (None, True, 0)],
)
async def test_an_expired_or_revoked_invite_admits_nobody_and_stays_unused(
    stores: Stores, expires_at: int | None, revoke: bool, expected_uses: int
) -> None:
    invite_id = await make_invite(stores, max_uses=5, expires_at=expires_at)
    if revoke:
        await stores.invites.revoke(invite_id, NOW - 1)

    with pytest.raises(InviteNotUsable):
        await register(stores, "alice", now=NOW)

    assert await stores.users.by_username("alice") is None
    stored = await stores.invites.get(invite_id)
    assert stored is not None
    assert stored.uses == expected_uses


async def test_an_unknown_invite_is_refused_with_no_record(stores: Stores) -> None:
    with pytest.raises(InviteNotUsable) as refused:
        await register(stores, "alice", invite_hash="c" * 64)
    assert refused.value.invite is None
    assert await stores.users.by_username("alice") is None


async def test_a_taken_username_leaves_the_invite_unused(stores: Stores) -> None:
    invite_id = await make_invite(stores)
    await register(stores, "alice", invite_hash=None)

    with pytest.raises(UsernameTaken):
        await register(stores, "alice")

    stored = await stores.invites.get(invite_id)
    assert stored is not None
    assert stored.uses == 0
    await register(stores, "bob")


async def test_racing_registrations_take_exactly_the_uses_an_invite_has(stores: Stores) -> None:
    invite_id = await make_invite(stores, max_uses=5)

    results = await asyncio.gather(
        *(register(stores, f"racer{n}") for n in range(20)), return_exceptions=True
    )

    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(created) == 5
    assert all(isinstance(r, InviteNotUsable) for r in refused), refused
    stored = await stores.invites.get(invite_id)
    assert stored is not None
    assert stored.uses == 5
    for user in created:
        assert await stores.users.by_id(user.id) == user


async def test_disabling_sets_the_flag_once_and_enabling_clears_it(stores: Stores) -> None:
    user = await register(stores, "alice", invite_hash=None)
    assert user.disabled_at is None

    disabled = await stores.users.set_disabled(user.id, NOW + 1)
    again = await stores.users.set_disabled(user.id, NOW + 2)

    assert disabled is not None
    assert again is not None
    assert disabled.disabled_at == again.disabled_at == NOW + 1
    assert await stores.users.by_username("alice") == disabled
    enabled = await stores.users.set_disabled(user.id, None)
    assert enabled is not None
    assert enabled.disabled_at is None
    assert await stores.users.set_disabled(user.id + 1000, NOW) is None


async def test_a_new_password_hash_replaces_the_old_one(stores: Stores) -> None:
    user = await register(stores, "alice", invite_hash=None)
    assert await stores.users.set_password_hash(user.id, "new-hash") is True
    stored = await stores.users.by_id(user.id)
    assert stored is not None
    assert stored.password_hash == "new-hash"
    assert await stores.users.set_password_hash(user.id + 1000, "x") is False


async def open_session(stores: Stores, user_id: int, device_id: str, now: int = NOW) -> int:
    session, _ = await stores.sessions.open(
        user_id=user_id,
        device_id=device_id,
        client_type="web",
        refresh_hash=HASH,
        refresh_expires_at=now + 1000,
        now_ms=now,
    )
    return session.id


async def test_ending_a_users_sessions_ends_only_their_live_ones(stores: Stores) -> None:
    phone = await open_session(stores, 1, "phone")
    laptop = await open_session(stores, 1, "laptop")
    logged_out = await open_session(stores, 1, "tablet")
    other = await open_session(stores, 2, "phone")
    await stores.sessions.revoke(logged_out, NOW + 1, "logout")

    ended = await stores.sessions.end_all_of(1, NOW + 5, "user_disabled")

    assert sorted((s.id, s.device_id) for s in ended) == sorted(
        [(phone, "phone"), (laptop, "laptop")]
    )
    assert {(s.revoked_at, s.end_reason) for s in ended} == {(NOW + 5, "user_disabled")}
    for session_id, reason in ((phone, "user_disabled"), (logged_out, "logout")):
        stored = await stores.sessions.get(session_id)
        assert stored is not None
        assert stored.end_reason == reason
    still = await stores.sessions.get(other)
    assert still is not None
    assert still.revoked_at is None
    assert await stores.sessions.end_all_of(1, NOW + 6, "user_disabled") == []
    # The device can log in again: its live slot was freed.
    await open_session(stores, 1, "phone", NOW + 7)


async def test_a_replaced_session_says_so(stores: Stores) -> None:
    first = await open_session(stores, 1, "phone")
    await open_session(stores, 1, "phone", NOW + 1)
    stored = await stores.sessions.get(first)
    assert stored is not None
    assert (stored.revoked_at, stored.end_reason) == (NOW + 1, "replaced")


async def test_ended_sessions_are_paged_by_end_time_then_id(stores: Stores) -> None:
    ids = [await open_session(stores, 1, f"d{n}") for n in range(5)]
    live = await open_session(stores, 2, "phone")
    assert live not in ids
    await stores.sessions.revoke(ids[0], NOW + 10, "logout")
    await stores.sessions.end_all_of(1, NOW + 20, "user_disabled")  # ids[1:] at one time

    assert [s.id for s in await stores.sessions.ended_since(NOW, limit=100)] == ids
    assert [s.id for s in await stores.sessions.ended_since(NOW + 11, limit=100)] == ids[1:]
    first = await stores.sessions.ended_since(NOW + 20, limit=2)
    rest = await stores.sessions.ended_since(NOW + 20, after_id=first[-1].id, limit=100)
    assert [s.id for s in first + rest] == ids[1:]
    assert await stores.sessions.ended_since(NOW + 21, limit=100) == []
