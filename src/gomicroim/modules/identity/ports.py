"""What the identity service needs from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec

from gomicroim.modules.identity.contract import ClientType, SessionEnded


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored user, password hash included; never leaves the module."""

    id: int
    username: str
    nickname: str
    password_hash: str
    created_at: int


class DeviceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored device."""

    user_id: int
    device_id: str
    client_type: ClientType
    platform: str | None
    last_login_at: int


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One login of one device: the refresh token's hash and whether it still counts."""

    id: int
    user_id: int
    device_id: str
    client_type: ClientType
    refresh_hash: str
    refresh_expires_at: int
    revoked_at: int | None
    previous_hashes: tuple[str, ...] = ()


#: How many rotated refresh-token hashes a session remembers for reuse detection.
ROTATED_HASHES_KEPT = 64


class UsernameTaken(Exception):
    """Raised by :meth:`UserStore.create` when the username exists."""


class UserStore(Protocol):
    """Users and their devices."""

    async def create(
        self, *, username: str, nickname: str, password_hash: str, now_ms: int
    ) -> UserRecord:
        """Insert a user; raise :class:`UsernameTaken` if the name exists."""
        ...

    async def by_username(self, username: str) -> UserRecord | None:
        """The user with this (normalised) username."""
        ...

    async def by_id(self, user_id: int) -> UserRecord | None:
        """The user with this id."""
        ...

    async def existing_ids(self, user_ids: set[int]) -> set[int]:
        """Which of these ids exist."""
        ...

    async def save_device(self, device: DeviceRecord) -> None:
        """Insert or update (user_id, device_id)."""
        ...

    async def devices_of(self, user_ids: set[int]) -> list[DeviceRecord]:
        """All devices of these users."""
        ...


class SessionStore(Protocol):
    """Login sessions, one active per (user, device)."""

    async def open(
        self,
        *,
        user_id: int,
        device_id: str,
        client_type: ClientType,
        refresh_hash: str,
        refresh_expires_at: int,
        now_ms: int,
    ) -> tuple[SessionRecord, list[int]]:
        """Start a session, ending the device's active ones; return it and the ended ids."""
        ...

    async def get(self, session_id: int) -> SessionRecord | None:
        """A session by id."""
        ...

    async def set_refresh(
        self, session_id: int, *, expected_hash: str, new_hash: str, refresh_expires_at: int
    ) -> bool:
        """Swap the refresh hash if it still is ``expected_hash`` and the session is live.

        ``expected_hash`` joins the session's ``previous_hashes`` (the newest
        :data:`ROTATED_HASHES_KEPT`): showing any of those tokens again is reuse of a rotated token.
        """
        ...

    async def revoke(self, session_id: int, now_ms: int) -> bool:
        """End a session; False if it was already ended."""
        ...

    async def revoked_since(self, since_ms: int) -> list[int]:
        """Ids of sessions ended at or after ``since_ms``."""
        ...


class RevocationList(Protocol):
    """Fast check, on every request, that a session has not been ended."""

    async def revoke(self, session_id: int, until_ms: int) -> None:
        """Remember ``session_id`` as ended until ``until_ms``, when its last token expired.

        Revoking again never shortens an earlier, later deadline.
        """
        ...

    async def is_revoked(self, session_id: int) -> bool:
        """Whether tokens of this session must be refused (one cheap lookup).

        Raises:
            Unavailable: a shared list does not answer.
        """
        ...

    def on_lost(self, reload: Callable[[], Awaitable[None]]) -> None:
        """Call ``reload`` whenever the list may have lost entries (a Redis restart or flush).

        The sessions table is the truth; ``reload`` revokes its recently ended sessions again.
        """
        ...


class DevicesChanged(msgspec.Struct, frozen=True, kw_only=True):
    """A user's devices changed (a login): every process drops its cached device list."""

    user_id: int


class PasswordHasher(Protocol):
    """Slow, salted password hashing, bounded in how much of it runs and waits at once."""

    @property
    def pending(self) -> int:
        """Hashes running or waiting now (a gauge on ``/metrics``)."""
        ...

    async def hash(self, password: str) -> str:
        """Hash a password for storage."""
        ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``."""
        ...


class SessionEventPublisher(Protocol):
    """Announces ended sessions to every process that may hold one of their connections."""

    async def publish(self, event: SessionEnded) -> None:
        """Deliver ``event`` to the subscribers (in process, or through a broker)."""
        ...
