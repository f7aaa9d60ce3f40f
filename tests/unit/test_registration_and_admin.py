"""Registration modes, invite codes and the operator's account controls, over fakes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from gomicroim.clock import now_ms
from gomicroim.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.identity.admin import IdentityAdminService
from gomicroim.modules.identity.contract import LoginRequest, SessionEnded, TokenPair, UserCreate
from gomicroim.modules.identity.domain import (
    RegistrationMode,
    admission,
    hash_secret,
    invite_refusal,
    invite_usable,
    new_invite_code,
)
from gomicroim.modules.identity.ending import SessionEnding
from gomicroim.modules.identity.ports import InviteRecord
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.identity.tokens import AccessTokens
from tests.fakes import (
    FakeClock,
    FakeHasher,
    MemoryInviteStore,
    MemorySessionStore,
    MemoryUserStore,
)

PASSWORD = "correct horse battery"
DAY = 86_400_000


def invite(**changes: object) -> InviteRecord:
    values: dict[str, object] = {
        "id": 1,
        "code_hash": "h",
        "uses": 0,
        "max_uses": 2,
        "expires_at": None,
        "note": "",
        "created_at": 0,
        "revoked_at": None,
    }
    values.update(changes)
    return InviteRecord(**values)  # type: ignore[arg-type]


# The rules


def test_open_registration_needs_no_code_and_ignores_one_sent() -> None:
    assert admission("open", None) is None
    assert admission("open", "some-code") is None


def test_closed_registration_refuses_everyone_even_with_a_code() -> None:
    for code in (None, "some-code"):
        with pytest.raises(Forbidden) as refused:
            admission("closed", code)
        assert refused.value.code == "registration_closed"


@pytest.mark.parametrize("code", [None, ""])
def test_invite_registration_without_a_code_is_refused(code: str | None) -> None:
    with pytest.raises(Forbidden) as refused:
        admission("invite", code)
    assert refused.value.code == "invite_required"


def test_invite_registration_with_a_code_uses_that_code() -> None:
    assert admission("invite", "abc") == "abc"


@pytest.mark.parametrize(
    ("record", "usable", "code"),
    [
        (invite(), True, None),
        (invite(uses=1), True, None),
        (invite(uses=2), False, "invite_used_up"),
        (invite(expires_at=1000), True, None),
        (invite(expires_at=999), False, "invite_expired"),
        (invite(expires_at=998), False, "invite_expired"),
        (invite(revoked_at=5), False, "invite_invalid"),
        # Revoked says less than expired or used up: the holder can do nothing about either.
        (invite(revoked_at=5, expires_at=1, uses=2), False, "invite_invalid"),
    ],
)
def test_an_invite_admits_while_unrevoked_unexpired_and_not_used_up(
    record: InviteRecord, usable: bool, code: str | None
) -> None:
    now = 999
    assert invite_usable(record, now) is usable
    if code is not None:
        assert invite_refusal(record, now).code == code


def test_an_unknown_invite_is_invalid() -> None:
    refusal = invite_refusal(None, 0)
    assert (refusal.code, refusal.field) == ("invite_invalid", "invite_code")


def test_invite_codes_are_random_never_digits_only_and_stored_as_their_hash() -> None:
    codes = [new_invite_code() for _ in range(200)]
    assert len({code for code, _ in codes}) == 200
    for code, code_hash in codes:
        assert not code.isdigit()
        assert code_hash == hash_secret(code) != code


# The services over fakes


@dataclass
class Deployment:
    clock: FakeClock = field(default_factory=lambda: FakeClock(now_ms() - 600_000))
    invites: MemoryInviteStore = field(default_factory=MemoryInviteStore)
    sessions: MemorySessionStore = field(default_factory=MemorySessionStore)
    revocations: MemoryRevocationList = field(default_factory=MemoryRevocationList)
    hasher: FakeHasher = field(default_factory=FakeHasher)
    events: LocalBroadcast[SessionEnded] = field(default_factory=lambda: LocalBroadcast("s"))
    heard: list[SessionEnded] = field(default_factory=list)
    tokens: AccessTokens = field(
        default_factory=lambda: AccessTokens("unit-test-secret-0123456789abcdef", 900_000)
    )

    def __post_init__(self) -> None:
        self.users = MemoryUserStore(self.invites)

        async def hear(event: SessionEnded) -> None:
            self.heard.append(event)

        self.events.subscribe(hear)

    def identity(self, registration: RegistrationMode = "open") -> IdentityService:
        return IdentityService(
            users=self.users,
            sessions=self.sessions,
            revocations=self.revocations,
            hasher=self.hasher,
            tokens=self.tokens,
            refresh_ttl_ms=DAY,
            clock=self.clock,
            events=self.events,
            registration=registration,
        )

    def admin(self) -> IdentityAdminService:
        return IdentityAdminService(
            users=self.users,
            sessions=self.sessions,
            invites=self.invites,
            hasher=self.hasher,
            ending=SessionEnding(
                revocations=self.revocations,
                events=self.events,
                validity_ms=self.tokens.max_validity_ms,
            ),
            clock=self.clock,
        )

    async def login(self, username: str, device_id: str = "phone") -> TokenPair:
        return await self.identity().login(
            LoginRequest(
                username=username, password=PASSWORD, device_id=device_id, client_type="app"
            )
        )


@pytest.fixture
def deployment() -> Deployment:
    return Deployment()


async def register(service: IdentityService, username: str, code: str | None = None) -> int:
    request = UserCreate(username=username, password=PASSWORD, invite_code=code)
    return (await service.register(request)).id


async def refused(coro: object) -> AppError:
    with pytest.raises(AppError) as caught:
        await coro  # type: ignore[misc]
    return caught.value


async def test_closed_registration_creates_nothing(deployment: Deployment) -> None:
    identity = deployment.identity("closed")
    error = await refused(register(identity, "alice"))
    assert (type(error), error.code) == (Forbidden, "registration_closed")
    assert await deployment.users.by_username("alice") is None
    # The operator still creates accounts.
    account = await deployment.admin().create_user("alice", PASSWORD)
    assert (await identity.find_user("alice")).id == account.id


async def test_an_invite_admits_as_many_registrations_as_it_has_uses(
    deployment: Deployment,
) -> None:
    created = await deployment.admin().create_invite(max_uses=2, expires_at=None, note="team")
    identity = deployment.identity("invite")

    await register(identity, "alice", created.code)
    await register(identity, "bob", created.code)
    error = await refused(register(identity, "carol", created.code))

    assert (type(error), error.code) == (Forbidden, "invite_used_up")
    assert await deployment.users.by_username("carol") is None
    [listed] = await deployment.admin().list_invites(limit=10)
    assert (listed.uses, listed.max_uses, listed.note) == (2, 2, "team")


async def test_every_unusable_invite_is_refused_and_creates_nothing(
    deployment: Deployment,
) -> None:
    admin = deployment.admin()
    identity = deployment.identity("invite")
    expiring = await admin.create_invite(
        max_uses=5, expires_at=deployment.clock() + 60_000, note=""
    )
    revoked = await admin.create_invite(max_uses=5, expires_at=None, note="")
    await admin.revoke_invite(revoked.code)
    deployment.clock.advance(60_000)

    cases = {
        None: "invite_required",
        "no-such-code": "invite_invalid",
        revoked.code: "invite_invalid",
        expiring.code: "invite_expired",
    }
    for code, expected in cases.items():
        error = await refused(register(identity, "mallory", code))
        assert (type(error), error.code) == (Forbidden, expected), code
    assert await deployment.users.by_username("mallory") is None
    assert [i.uses for i in await admin.list_invites(limit=10)] == [0, 0]


async def test_a_taken_username_uses_nothing_of_the_invite(deployment: Deployment) -> None:
    created = await deployment.admin().create_invite(max_uses=1, expires_at=None, note="")
    identity = deployment.identity("invite")
    await deployment.admin().create_user("alice", PASSWORD)

    error = await refused(register(identity, "alice", created.code))

    assert isinstance(error, Conflict)
    await register(identity, "bob", created.code)  # the one use is still there


async def test_open_registration_leaves_a_sent_invite_unused(deployment: Deployment) -> None:
    created = await deployment.admin().create_invite(max_uses=1, expires_at=None, note="")
    await register(deployment.identity("open"), "alice", created.code)
    [listed] = await deployment.admin().list_invites(limit=10)
    assert listed.uses == 0


async def test_invites_are_revoked_by_code_or_by_id(deployment: Deployment) -> None:
    admin = deployment.admin()
    first = await admin.create_invite(max_uses=1, expires_at=None, note="")
    second = await admin.create_invite(max_uses=1, expires_at=None, note="")

    assert (await admin.revoke_invite(first.code)).revoked_at is not None
    assert (await admin.revoke_invite(str(second.invite.id))).id == second.invite.id
    assert [i.revoked_at is not None for i in await admin.list_invites(limit=10)] == [True, True]
    error = await refused(admin.revoke_invite("999"))
    assert (type(error), error.code) == (NotFound, "invite_not_found")


@pytest.mark.parametrize(
    ("uses", "expires_in", "note", "field_name"),
    [(0, None, "", "uses"), (1, 0, "", "expires_in"), (1, None, "line\nbreak", "note")],
)
async def test_an_invite_that_could_never_work_is_not_created(
    deployment: Deployment, uses: int, expires_in: int | None, note: str, field_name: str
) -> None:
    expires_at = None if expires_in is None else deployment.clock() + expires_in
    error = await refused(
        deployment.admin().create_invite(max_uses=uses, expires_at=expires_at, note=note)
    )
    assert (type(error), error.field) == (InvalidInput, field_name)
    assert await deployment.admin().list_invites(limit=10) == []


async def test_operator_accounts_follow_the_api_rules(deployment: Deployment) -> None:
    admin = deployment.admin()
    for username, password in (("a", PASSWORD), ("alice\n", PASSWORD), ("alice", "short")):
        error = await refused(admin.create_user(username, password))
        assert isinstance(error, InvalidInput), (username, password)
    error = await refused(admin.create_user("alicealice", "AliceAlice"))
    assert (type(error), error.field) == (InvalidInput, "password")
    assert await deployment.users.by_username("alicealice") is None


async def test_a_disabled_user_is_logged_out_everywhere_and_cannot_come_back(
    deployment: Deployment,
) -> None:
    identity = deployment.identity()
    user_id = await register(identity, "alice")
    phone = await deployment.login("alice", "phone")
    laptop = await deployment.login("alice", "laptop")

    change = await deployment.admin().disable_user("alice")

    assert (change.changed, change.sessions_ended) == (True, 2)
    assert change.account.disabled_at == deployment.clock()
    ended = {(e.user_id, e.device_id, e.reason) for e in deployment.heard}
    assert ended == {(user_id, "phone", "user_disabled"), (user_id, "laptop", "user_disabled")}
    for pair in (phone, laptop):
        error = await refused(identity.authenticate(pair.access_token))
        assert (type(error), error.code) == (Unauthenticated, "token_revoked")
        error = await refused(identity.refresh(pair.refresh_token))
        assert isinstance(error, Unauthenticated)
    error = await refused(deployment.login("alice"))
    assert (type(error), error.code) == (Forbidden, "user_disabled")


async def test_a_disabled_user_with_a_wrong_password_learns_nothing(
    deployment: Deployment,
) -> None:
    await register(deployment.identity(), "alice")
    await deployment.admin().disable_user("alice")
    error = await refused(
        deployment.identity().login(
            LoginRequest(
                username="alice", password="wrong password", device_id="d", client_type="web"
            )
        )
    )
    assert (type(error), error.code) == (Unauthenticated, "bad_credentials")


async def test_disabling_twice_keeps_the_first_time_and_enabling_lets_the_user_in(
    deployment: Deployment,
) -> None:
    await register(deployment.identity(), "alice")
    admin = deployment.admin()
    first = await admin.disable_user("alice")
    deployment.clock.advance(1000)
    again = await admin.disable_user("alice")
    assert (again.changed, again.account.disabled_at) == (False, first.account.disabled_at)

    enabled = await admin.enable_user("alice")
    assert (enabled.changed, enabled.account.disabled_at) == (True, None)
    assert (await admin.enable_user("alice")).changed is False
    pair = await deployment.login("alice")
    assert (await deployment.identity().authenticate(pair.access_token)).device_id == "phone"


async def test_a_refresh_racing_a_disable_ends_its_session(deployment: Deployment) -> None:
    # The refresh token was valid, but the user is disabled by the time it is shown.
    identity = deployment.identity()
    await register(identity, "alice")
    pair = await deployment.login("alice")
    user = await deployment.users.by_username("alice")
    assert user is not None
    await deployment.users.set_disabled(user.id, deployment.clock())  # flag set, sessions not yet

    error = await refused(identity.refresh(pair.refresh_token))

    assert (type(error), error.code) == (Forbidden, "user_disabled")
    assert [e.reason for e in deployment.heard] == ["user_disabled"]
    error = await refused(identity.authenticate(pair.access_token))
    assert error.code == "token_revoked"


async def test_a_login_racing_a_disable_ends_the_session_it_opened(
    deployment: Deployment,
) -> None:
    identity = deployment.identity()
    await register(identity, "alice")
    admin = deployment.admin()
    original = deployment.users.by_username

    async def disable_meanwhile(username: str):  # type: ignore[no-untyped-def]
        # The password check reads the user just before the operator disables it.
        user = await original(username)
        deployment.users.by_username = original  # type: ignore[method-assign]
        await admin.disable_user("alice")
        return user

    deployment.users.by_username = disable_meanwhile  # type: ignore[method-assign]
    error = await refused(deployment.login("alice"))

    assert (type(error), error.code) == (Forbidden, "user_disabled")
    assert [s for s in deployment.sessions._sessions.values() if s.revoked_at is None] == []


async def test_a_password_reset_ends_every_session_and_only_the_new_password_works(
    deployment: Deployment,
) -> None:
    identity = deployment.identity()
    await register(identity, "alice")
    pair = await deployment.login("alice")

    change = await deployment.admin().reset_password("alice", "a brand new secret")

    assert change.sessions_ended == 1
    assert [e.reason for e in deployment.heard] == ["password_reset"]
    assert (await refused(identity.authenticate(pair.access_token))).code == "token_revoked"
    assert (await refused(deployment.login("alice"))).code == "bad_credentials"
    await identity.login(
        LoginRequest(
            username="alice", password="a brand new secret", device_id="d", client_type="app"
        )
    )
    for bad in ("short", "alice"):
        assert isinstance(
            await refused(deployment.admin().reset_password("alice", bad)), InvalidInput
        )


async def test_operator_commands_on_an_unknown_user_say_so(deployment: Deployment) -> None:
    admin = deployment.admin()
    for call in (
        admin.disable_user("nobody"),
        admin.enable_user("nobody"),
        admin.reset_password("nobody", PASSWORD),
    ):
        error = await refused(call)
        assert (type(error), error.code) == (NotFound, "user_not_found")


async def test_concurrent_registrations_never_take_more_uses_than_an_invite_has(
    deployment: Deployment,
) -> None:
    created = await deployment.admin().create_invite(max_uses=3, expires_at=None, note="")
    identity = deployment.identity("invite")
    results = await asyncio.gather(
        *(register(identity, f"user{n}", created.code) for n in range(10)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, int) for r in results) == 3
    assert {r.code for r in results if isinstance(r, AppError)} == {"invite_used_up"}
