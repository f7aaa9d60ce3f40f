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


class UserCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /auth/register`` body."""

    username: Username
    password: Password
    nickname: Nickname | None = None


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


SessionEndReason = Literal["logout", "replaced", "refresh_token_reused", "user_disabled"]


class SessionEnded(msgspec.Struct, frozen=True, kw_only=True):
    """A login session ended: its tokens are refused from now on, and its sockets must close.

    ``reason``: ``logout``, ``replaced`` (the device logged in again), ``refresh_token_reused``
    (a rotated refresh token was shown again) or ``user_disabled``.
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
        """Create an account.

        Raises:
            Conflict: ``username_taken``.
        """
        ...

    async def login(self, request: LoginRequest) -> TokenPair:
        """Check the password, record the device and open a session for it.

        A new login on the same device ends that device's previous session.

        Raises:
            Unauthenticated: ``bad_credentials`` for an unknown user or wrong password.
        """
        ...

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Swap a refresh token for a new pair; the old refresh token stops working.

        Raises:
            Unauthenticated: ``invalid_refresh_token``, or ``refresh_token_reused`` when an
                already rotated token is shown again (the session is then ended).
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
