"""IdentityService over fakes: accounts, logins, token rotation, reuse detection, logout."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
import pytest

from gomicroim.clock import now_ms
from gomicroim.errors import Conflict, NotFound, Unauthenticated
from gomicroim.modules.identity.contract import ClientType, LoginRequest, TokenPair, UserCreate
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.identity.tokens import AccessTokens
from tests.fakes import FakeClock, FakeHasher, MemorySessionStore, MemoryUserStore

ACCESS_TTL = 15 * 60_000
REFRESH_TTL = 7 * 24 * 3_600_000
PASSWORD = "correct horse battery"


@dataclass
class World:
    users: MemoryUserStore
    sessions: MemorySessionStore
    hasher: FakeHasher
    clock: FakeClock

    def service(self, revocations: MemoryRevocationList | None = None) -> IdentityService:
        """A service over the shared stores: a second call is a restarted process."""
        return IdentityService(
            users=self.users,
            sessions=self.sessions,
            revocations=revocations or MemoryRevocationList(),
            hasher=self.hasher,
            tokens=AccessTokens("unit-test-secret-0123456789abcdef", ACCESS_TTL),
            refresh_ttl_ms=REFRESH_TTL,
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    # Access tokens are verified against the real time and PyJWT refuses an ``iat`` in the
    # future, so the test clock starts in the past and may be advanced a few minutes.
    return World(
        MemoryUserStore(), MemorySessionStore(), FakeHasher(), FakeClock(now_ms() - 600_000)
    )


@pytest.fixture
async def identity(world: World) -> IdentityService:
    service = world.service()
    await service.start()
    return service


async def register(identity: IdentityService, username: str = "alice") -> int:
    return (await identity.register(UserCreate(username=username, password=PASSWORD))).id


async def login(
    identity: IdentityService,
    username: str = "alice",
    device_id: str = "phone",
    client_type: ClientType = "app",
    password: str = PASSWORD,
) -> TokenPair:
    return await identity.login(
        LoginRequest(
            username=username,
            password=password,
            device_id=device_id,
            client_type=client_type,
            platform="ios",
        )
    )


async def code_of(call: object) -> str:
    with pytest.raises(Unauthenticated) as err:
        await call  # type: ignore[misc]
    return err.value.code


# --- accounts --------------------------------------------------------------------------------


async def test_register_creates_a_user_with_a_default_nickname(
    identity: IdentityService, world: World
) -> None:
    user = await identity.register(UserCreate(username="Alice", password=PASSWORD))

    assert (user.username, user.nickname, user.created_at) == ("alice", "Alice", world.clock.now)
    assert await identity.get_user(user.id) == user
    stored = await world.users.by_id(user.id)
    assert stored is not None
    assert PASSWORD not in stored.password_hash


async def test_register_keeps_a_given_nickname(identity: IdentityService) -> None:
    user = await identity.register(
        UserCreate(username="bob", password=PASSWORD, nickname="Bobby 🎸")
    )

    assert user.nickname == "Bobby 🎸"


async def test_usernames_are_taken_case_insensitively(identity: IdentityService) -> None:
    await register(identity, "alice")

    with pytest.raises(Conflict) as err:
        await identity.register(UserCreate(username="ALICE", password=PASSWORD))

    assert (err.value.code, err.value.status) == ("username_taken", 409)


async def test_an_unknown_user_is_not_found(identity: IdentityService) -> None:
    with pytest.raises(NotFound) as err:
        await identity.get_user(404)

    assert err.value.code == "user_not_found"


async def test_existing_user_ids_filters_unknown_ones(identity: IdentityService) -> None:
    a = await register(identity, "alice")
    b = await register(identity, "bob")

    assert await identity.existing_user_ids({a, b, 999}) == {a, b}
    assert await identity.existing_user_ids(set()) == set()


# --- login and authentication ----------------------------------------------------------------


async def test_login_issues_tokens_that_authenticate_the_device(
    identity: IdentityService, world: World
) -> None:
    user_id = await register(identity)

    pair = await login(identity, "ALICE", device_id="tablet", client_type="web")

    assert (pair.user_id, pair.device_id) == (user_id, "tablet")
    assert pair.access_expires_at == world.clock.now + ACCESS_TTL
    assert pair.refresh_expires_at == world.clock.now + REFRESH_TTL
    principal = await identity.authenticate(pair.access_token)
    assert (principal.user_id, principal.device_id, principal.client_type) == (
        user_id,
        "tablet",
        "web",
    )


async def test_login_records_the_device(identity: IdentityService, world: World) -> None:
    user_id = await register(identity)
    await login(identity, device_id="phone", client_type="app")
    world.clock.advance(1000)
    await login(identity, device_id="laptop", client_type="desktop")

    devices = (await identity.devices_of({user_id, 999}))[user_id]

    assert sorted((d.device_id, d.client_type, d.platform) for d in devices) == [
        ("laptop", "desktop", "ios"),
        ("phone", "app", "ios"),
    ]
    assert 999 not in await identity.devices_of({user_id, 999})


@pytest.mark.parametrize("username", ["alice", "nobody"])
async def test_a_wrong_password_or_unknown_user_fails_alike(
    identity: IdentityService, world: World, username: str
) -> None:
    await register(identity, "alice")
    before = world.hasher.verify_calls

    code = await code_of(login(identity, username, password="wrong password"))

    assert code == "bad_credentials"
    # Both paths check a hash, so timing does not reveal which usernames exist.
    assert world.hasher.verify_calls == before + 1


async def test_a_new_login_on_the_same_device_ends_the_old_session(
    identity: IdentityService,
) -> None:
    await register(identity)
    old = await login(identity, device_id="phone")
    other_device = await login(identity, device_id="laptop")

    new = await login(identity, device_id="phone")

    assert await code_of(identity.authenticate(old.access_token)) == "token_revoked"
    assert await code_of(identity.refresh(old.refresh_token)) == "invalid_refresh_token"
    await identity.authenticate(new.access_token)
    await identity.authenticate(other_device.access_token)


async def test_garbage_access_tokens_are_invalid(identity: IdentityService) -> None:
    assert await code_of(identity.authenticate("not-a-token")) == "invalid_token"


# --- refresh rotation ------------------------------------------------------------------------


async def test_refresh_rotates_both_tokens(identity: IdentityService, world: World) -> None:
    await register(identity)
    first = await login(identity)
    world.clock.advance(60_000)

    second = await identity.refresh(first.refresh_token)

    assert second.refresh_token != first.refresh_token
    assert second.refresh_expires_at == world.clock.now + REFRESH_TTL
    assert second.access_expires_at == world.clock.now + ACCESS_TTL
    who = await identity.authenticate(second.access_token)
    before = await identity.authenticate(first.access_token)
    assert msgspec.structs.replace(who, expires_at=None) == msgspec.structs.replace(
        before, expires_at=None
    )
    # The socket cap uses this: the token's own (whole-second) expiry.
    assert who.expires_at == second.access_expires_at // 1000 * 1000
    third = await identity.refresh(second.refresh_token)
    await identity.authenticate(third.access_token)


async def test_showing_a_rotated_refresh_token_again_ends_the_session(
    identity: IdentityService,
) -> None:
    await register(identity)
    first = await login(identity)
    second = await identity.refresh(first.refresh_token)

    assert await code_of(identity.refresh(first.refresh_token)) == "refresh_token_reused"

    # Whoever holds the newer pair is logged out too: one of the two is a thief.
    assert await code_of(identity.refresh(second.refresh_token)) == "invalid_refresh_token"
    assert await code_of(identity.authenticate(second.access_token)) == "token_revoked"


async def test_concurrent_refreshes_with_one_token_let_at_most_one_through(
    identity: IdentityService,
) -> None:
    await register(identity)
    pair = await login(identity)

    results = await asyncio.gather(
        identity.refresh(pair.refresh_token),
        identity.refresh(pair.refresh_token),
        return_exceptions=True,
    )

    assert sum(isinstance(r, TokenPair) for r in results) <= 1
    codes = [r.code for r in results if isinstance(r, Unauthenticated)]
    assert codes
    assert set(codes) <= {"refresh_token_reused", "invalid_refresh_token"}


async def test_an_expired_refresh_token_is_refused(identity: IdentityService, world: World) -> None:
    await register(identity)
    pair = await login(identity)
    world.clock.advance(REFRESH_TTL)

    assert await code_of(identity.refresh(pair.refresh_token)) == "invalid_refresh_token"


@pytest.mark.parametrize("token", ["", "garbage", "1.", "999.abc", "1.wrong-secret"])
async def test_unknown_or_malformed_refresh_tokens_are_refused(
    identity: IdentityService, token: str
) -> None:
    await register(identity)
    await login(identity)

    assert await code_of(identity.refresh(token)) in {
        "invalid_refresh_token",
        "refresh_token_reused",
    }


# --- logout and revocation -------------------------------------------------------------------


async def test_logout_ends_access_and_refresh_of_that_device_only(
    identity: IdentityService,
) -> None:
    await register(identity)
    phone = await login(identity, device_id="phone")
    laptop = await login(identity, device_id="laptop")

    await identity.logout(await identity.authenticate(phone.access_token))

    assert await code_of(identity.authenticate(phone.access_token)) == "token_revoked"
    assert await code_of(identity.refresh(phone.refresh_token)) == "invalid_refresh_token"
    await identity.authenticate(laptop.access_token)
    await identity.refresh(laptop.refresh_token)


async def test_logout_survives_a_restart(identity: IdentityService, world: World) -> None:
    await register(identity)
    pair = await login(identity)
    await identity.logout(await identity.authenticate(pair.access_token))
    world.clock.advance(1000)

    restarted = world.service(MemoryRevocationList())
    await restarted.start()

    assert await code_of(restarted.authenticate(pair.access_token)) == "token_revoked"


async def test_a_replaced_session_stays_revoked_after_a_restart(
    identity: IdentityService, world: World
) -> None:
    await register(identity)
    old = await login(identity)
    await login(identity)

    restarted = world.service(MemoryRevocationList())
    await restarted.start()

    assert await code_of(restarted.authenticate(old.access_token)) == "token_revoked"


async def test_a_forged_refresh_token_does_not_log_the_victim_out(
    identity: IdentityService,
) -> None:
    # Session ids are small sequential integers, so "<id>.<anything>" is easy to forge. Only a
    # token this session really issued earlier may count as reuse and end the session;
    # otherwise anyone could log every user out without knowing any secret.
    await register(identity)
    victim = await login(identity)
    session_id = (await identity.authenticate(victim.access_token)).session_id

    with pytest.raises(Unauthenticated):
        await identity.refresh(f"{session_id}.forged-by-someone-else")

    await identity.authenticate(victim.access_token)
    await identity.refresh(victim.refresh_token)


async def test_a_user_is_found_by_the_exact_username_in_any_case(identity: IdentityService) -> None:
    alice = await identity.register(UserCreate(username="Alice.B", password=PASSWORD))

    assert await identity.find_user("alice.b") == alice
    assert await identity.find_user("ALICE.B") == alice


@pytest.mark.parametrize("query", ["alice", "alice.", "lice.b", "alice.bb"])
async def test_finding_a_user_matches_the_whole_name_only(
    identity: IdentityService, query: str
) -> None:
    await identity.register(UserCreate(username="alice.b", password=PASSWORD))

    with pytest.raises(NotFound) as err:
        await identity.find_user(query)

    assert err.value.code == "user_not_found"
