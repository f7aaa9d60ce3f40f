"""What the identity service needs from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec

from gomicroim.modules.identity.contract import ClientType, SessionEnded, SessionEndReason


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored user, password hash included; never leaves the module."""

    id: int
    username: str
    nickname: str
    password_hash: str
    created_at: int
    #: When an operator disabled the account; None while it may log in.
    disabled_at: int | None = None


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
    #: Why it ended (None while live, and for sessions ended before reasons were stored).
    end_reason: SessionEndReason | None = None


#: How many rotated refresh-token hashes a session remembers for reuse detection.
ROTATED_HASHES_KEPT = 64


class InviteRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored invite: the SHA-256 of its code, how often it was used and may be used."""

    id: int
    code_hash: str
    uses: int
    max_uses: int
    expires_at: int | None
    note: str
    created_at: int
    revoked_at: int | None


class UsernameTaken(Exception):
    """Raised by :meth:`UserStore.create` when the username exists."""


class InviteNotUsable(Exception):
    """Raised by :meth:`UserStore.create` when the invite cannot admit anyone now.

    ``invite`` is the record as it is now (None for an unknown code), so the caller can say
    why: revoked, expired or used up.
    """

    def __init__(self, invite: InviteRecord | None):
        super().__init__(invite.id if invite else None)
        self.invite = invite


class UserStore(Protocol):
    """Users and their devices."""

    async def create(
        self,
        *,
        username: str,
        nickname: str,
        password_hash: str,
        now_ms: int,
        invite_hash: str | None = None,
    ) -> UserRecord:
        """Insert a user; raise :class:`UsernameTaken` if the name exists.

        With ``invite_hash``, one use of that invite is taken in the same transaction, only
        if it is unrevoked, unexpired at ``now_ms`` and has uses left; else
        :class:`InviteNotUsable` and nothing is written. Concurrent registrations never take
        more uses than the invite has.
        """
        ...

    async def set_disabled(self, user_id: int, disabled_at: int | None) -> UserRecord | None:
        """Disable (a time) or enable (None) a user; the user after it, None if unknown.

        An already disabled user keeps its first ``disabled_at``.
        """
        ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> bool:
        """Replace a user's password hash; False if the user does not exist."""
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

    async def revoke(
        self, session_id: int, now_ms: int, reason: SessionEndReason | None = None
    ) -> bool:
        """End a session, noting why; False if it was already ended."""
        ...

    async def revoked_since(self, since_ms: int) -> list[int]:
        """Ids of sessions ended at or after ``since_ms``."""
        ...

    async def end_all_of(
        self, user_id: int, now_ms: int, reason: SessionEndReason
    ) -> list[SessionRecord]:
        """End every live session of ``user_id``; return them as ended."""
        ...

    async def ended_since(
        self, since_ms: int, *, after_id: int = 0, limit: int
    ) -> list[SessionRecord]:
        """Ended sessions in ``(revoked_at, id)`` order, at most ``limit``.

        Those that ended at or after ``since_ms``, except, at exactly ``since_ms``, those with
        an id up to ``after_id``: the last row of a page is where the next page starts.
        """
        ...


class InviteStore(Protocol):
    """Invite codes, kept as hashes; :meth:`UserStore.create` takes their uses."""

    async def create(
        self, *, code_hash: str, max_uses: int, expires_at: int | None, note: str, now_ms: int
    ) -> InviteRecord:
        """Store a new invite with no uses taken."""
        ...

    async def get(self, invite_id: int) -> InviteRecord | None:
        """An invite by id."""
        ...

    async def by_hash(self, code_hash: str) -> InviteRecord | None:
        """The invite whose code hashes to ``code_hash``."""
        ...

    async def newest(self, limit: int) -> list[InviteRecord]:
        """The newest ``limit`` invites, newest first."""
        ...

    async def revoke(self, invite_id: int, now_ms: int) -> InviteRecord | None:
        """Make an invite unusable (keeping an earlier revocation time); None if unknown."""
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


class BlockRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored block; ``id`` orders a user's blocks (newer is larger) for paging."""

    id: int
    blocker_id: int
    blocked_id: int
    blocked_at: int


class BlockStore(Protocol):
    """Blocks, unique per (blocker, blocked)."""

    async def add(self, blocker_id: int, blocked_id: int, now_ms: int) -> tuple[BlockRecord, bool]:
        """Store the block unless it exists; return it and whether this call stored it.

        Concurrent calls for one pair store one row; every caller gets that row.
        """
        ...

    async def remove(self, blocker_id: int, blocked_id: int) -> bool:
        """Delete the block; False if there was none."""
        ...

    async def blocked_by(self, blocker_id: int) -> set[int]:
        """Every user ``blocker_id`` has blocked."""
        ...

    async def page(
        self, blocker_id: int, *, before_id: int | None, limit: int
    ) -> list[BlockRecord]:
        """``blocker_id``'s blocks newest first (``id`` descending), those below ``before_id``."""
        ...


class BlocksChanged(msgspec.Struct, frozen=True, kw_only=True):
    """A user's block list changed: every process drops its cached copy of it."""

    blocker_id: int
