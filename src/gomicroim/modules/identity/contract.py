"""The identity module's public face: ``IdentityFacade`` and its wire types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.patterns import DISPLAY_NAME, whole

ClientType = Literal["app", "web", "desktop"]

Username = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=32,
        pattern=whole("A-Za-z0-9_.-"),
        description="3-32 characters: letters, digits, '_', '.', '-'; case-insensitive.",
    ),
]
Password = Annotated[
    str,
    msgspec.Meta(
        min_length=8,
        max_length=128,
        description="8-128 characters (identity.min_password_chars may ask for more); not the"
        " username.",
    ),
]
Nickname = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=DISPLAY_NAME,
        description="Display name: no control characters, escapes or bidirectional overrides.",
    ),
]
DeviceId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=whole("A-Za-z0-9_.:-"),
        description="Stable id the client keeps per installation.",
    ),
]
UserId = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
InviteCode = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=whole("A-Za-z0-9_-"),
        description="An invite code from `gomicroim invites create`; needed when"
        ' auth.registration = "invite", ignored otherwise.',
    ),
]


class UserCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /auth/register`` body."""

    username: Username
    password: Password
    nickname: Nickname | None = None
    invite_code: InviteCode | None = None


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /auth/login`` body."""

    username: Username
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    device_id: DeviceId
    client_type: ClientType
    platform: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /auth/refresh`` body."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class UserRead(msgspec.Struct, kw_only=True):
    """A user's public profile."""

    id: int
    username: str
    nickname: str
    created_at: int


class TokenPair(msgspec.Struct, kw_only=True):
    """Tokens issued at login and refresh; times are Unix milliseconds."""

    user_id: int
    device_id: str
    access_token: str
    refresh_token: str
    access_expires_at: int
    refresh_expires_at: int


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the authenticated user, device and login session.

    ``expires_at`` (Unix ms) is when the access token that proved it stops being valid; ``None``
    where no token is involved.
    """

    user_id: int
    device_id: str
    session_id: int
    client_type: ClientType
    expires_at: int | None = None


SessionEndReason = Literal[
    "logout", "replaced", "refresh_token_reused", "user_disabled", "password_reset"
]


class SessionEnded(msgspec.Struct, frozen=True, kw_only=True):
    """A login session ended: its tokens are refused from now on, and its sockets must close.

    ``reason``: ``logout``, ``replaced`` (the device logged in again), ``refresh_token_reused``
    (a rotated refresh token was shown again), ``user_disabled`` or ``password_reset`` (an
    operator disabled the account or set a new password).
    """

    session_id: int
    user_id: int
    device_id: str
    reason: SessionEndReason
    ended_at: int


SessionEndedHandler = Callable[[SessionEnded], Awaitable[None]]


@runtime_checkable
class SessionEvents(Protocol):
    """Where identity announces ended sessions; whoever holds live connections listens."""

    def subscribe(self, handler: SessionEndedHandler) -> None:
        """Call ``handler`` for every :class:`SessionEnded` from now on, in publish order."""
        ...


def bearer_token(authorization: str | None) -> str | None:
    """The access token of an ``Authorization: Bearer <token>`` header, if it holds one.

    Every edge that takes access tokens (HTTP and WebSocket) reads the header this way.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class DeviceRead(msgspec.Struct, frozen=True, kw_only=True):
    """A device a user has logged in from; fan-out picks its strategy by ``client_type``."""

    user_id: int
    device_id: str
    client_type: ClientType
    platform: str | None
    last_login_at: int


@runtime_checkable
class IdentityFacade(Protocol):
    """Accounts, devices and tokens."""

    async def register(self, request: UserCreate) -> UserRead:
        """Create an account, as ``auth.registration`` allows.

        With ``invite`` the request's ``invite_code`` is used up by one use, atomically with
        the account's creation: a refused registration uses nothing.

        Raises:
            Conflict: ``username_taken``.
            Forbidden: ``registration_closed``; with invites ``invite_required`` (no code),
                ``invite_invalid`` (unknown or revoked), ``invite_expired``, ``invite_used_up``.
        """
        ...

    async def login(self, request: LoginRequest) -> TokenPair:
        """Check the password, record the device and open a session for it.

        A new login on the same device ends that device's previous session.

        Raises:
            Unauthenticated: ``bad_credentials`` for an unknown user or wrong password.
            Forbidden: ``user_disabled`` (right password, but an operator disabled the account).
        """
        ...

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Swap a refresh token for a new pair; the old refresh token stops working.

        Raises:
            Unauthenticated: ``invalid_refresh_token``, or ``refresh_token_reused`` when an
                already rotated token is shown again (the session is then ended).
            Forbidden: ``user_disabled``.
        """
        ...

    async def logout(self, principal: Principal) -> None:
        """End the caller's session: its access and refresh tokens stop working."""
        ...

    async def authenticate(self, access_token: str) -> Principal:
        """Verify an access token.

        Raises:
            Unauthenticated: ``token_expired``, ``token_revoked`` or ``invalid_token``.
        """
        ...

    async def get_user(self, user_id: int) -> UserRead:
        """A user's profile.

        Raises:
            NotFound: ``user_not_found``.
        """
        ...

    async def find_user(self, username: str) -> UserRead:
        """The user with exactly this username (case-insensitive); never a prefix match.

        Raises:
            NotFound: ``user_not_found``.
        """
        ...

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        """The subset of ``user_ids`` that are registered users."""
        ...

    async def devices_of(self, user_ids: set[int]) -> dict[int, list[DeviceRead]]:
        """Registered devices per user (users without devices are absent)."""
        ...


class AccountRead(msgspec.Struct, frozen=True, kw_only=True):
    """A user as an operator sees it: the profile and whether the account is disabled."""

    id: int
    username: str
    nickname: str
    created_at: int
    disabled_at: int | None


class AccountChanged(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator's change did: the account now, whether it changed, sessions ended."""

    account: AccountRead
    changed: bool
    sessions_ended: int


class InviteRead(msgspec.Struct, frozen=True, kw_only=True):
    """An invite code's record; the code itself is never stored, only its hash."""

    id: int
    uses: int
    max_uses: int
    expires_at: int | None
    note: str
    created_at: int
    revoked_at: int | None


class InviteCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A new invite and its code, which exists only in this answer."""

    invite: InviteRead
    code: str


@runtime_checkable
class IdentityAdmin(Protocol):
    """Operator actions on accounts and invite codes (``gomicroim users|invites``)."""

    async def create_user(
        self, username: str, password: str, nickname: str | None = None
    ) -> AccountRead:
        """Create an account whatever ``auth.registration`` says.

        Raises:
            InvalidInput: ``invalid_field`` for a username or password the API would refuse.
            Conflict: ``username_taken``.
        """
        ...

    async def disable_user(self, username: str) -> AccountChanged:
        """Refuse the account's logins and refreshes and end all of its sessions.

        Its sockets close with 4401 on every server process within
        ``identity.revocation_poll_s`` (``SessionEnded`` with reason ``user_disabled``).

        Raises:
            NotFound: ``user_not_found``.
        """
        ...

    async def enable_user(self, username: str) -> AccountChanged:
        """Let a disabled account log in again.

        Raises:
            NotFound: ``user_not_found``.
        """
        ...

    async def reset_password(self, username: str, password: str) -> AccountChanged:
        """Set a new password and end all of the account's sessions (``password_reset``).

        Raises:
            NotFound: ``user_not_found``.
            InvalidInput: ``invalid_field`` for a password the policy refuses.
        """
        ...

    async def create_invite(
        self, *, max_uses: int, expires_at: int | None, note: str
    ) -> InviteCreated:
        """A new invite code admitting ``max_uses`` registrations until ``expires_at`` (ms).

        Raises:
            InvalidInput: ``invalid_field`` for uses below 1, an expiry not in the future or
                a note the API could not show.
        """
        ...

    async def list_invites(self, *, limit: int) -> list[InviteRead]:
        """The newest ``limit`` invites, newest first."""
        ...

    async def revoke_invite(self, code_or_id: str) -> InviteRead:
        """Make an invite unusable, found by its code or its id.

        Raises:
            NotFound: ``invite_not_found``.
        """
        ...


class BlockRead(msgspec.Struct, frozen=True, kw_only=True):
    """A user the caller has blocked, and since when (Unix ms)."""

    user_id: int
    blocked_at: int


class BlockPage(msgspec.Struct, kw_only=True):
    """A page of the caller's blocks, newest first; ``next_cursor`` is None on the last page."""

    blocks: list[BlockRead]
    next_cursor: str | None = None


class BlockResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a block call did: the block, and whether this call created it."""

    block: BlockRead
    created: bool


@runtime_checkable
class BlocksFacade(Protocol):
    """Who refuses messages from whom: a user's block list.

    A block is one-way in storage (blocker → blocked); what it refuses is chat's rule (see
    ``ChatFacade.send``).
    """

    async def block(self, blocker_id: int, blocked_id: int) -> BlockResult:
        """Block a user; blocking again changes nothing and keeps the first ``blocked_at``.

        Every process stops delivering the blocked user's single-chat messages to the
        blocker at once here, elsewhere within its invalidation (``identity.block_cache_ttl_s``
        at worst, when the broadcast was lost).

        Raises:
            InvalidInput: ``cannot_block_self``.
            NotFound: ``user_not_found``.
        """
        ...

    async def unblock(self, blocker_id: int, blocked_id: int) -> bool:
        """Lift a block; True if there was one (unblocking again is no error).

        Raises:
            NotFound: ``user_not_found``.
        """
        ...

    async def blocks_of(self, blocker_id: int, *, limit: int, cursor: str | None) -> BlockPage:
        """The users ``blocker_id`` has blocked, newest first.

        Raises:
            InvalidInput: ``invalid_field`` for a cursor that is not a ``next_cursor``.
        """
        ...

    async def is_blocked(self, blocker_id: int, blocked_id: int) -> bool:
        """Whether ``blocker_id`` has blocked ``blocked_id`` (cached; asked on every send)."""
        ...
