"""Fakes of identity's ports: users, devices, sessions and a fast password hasher."""

from __future__ import annotations

import hashlib
import itertools

import msgspec

from gomicroim.modules.identity.contract import ClientType, SessionEndReason
from gomicroim.modules.identity.domain import invite_usable
from gomicroim.modules.identity.ports import (
    ROTATED_HASHES_KEPT,
    BlockRecord,
    DeviceRecord,
    InviteNotUsable,
    InviteRecord,
    SessionRecord,
    UsernameTaken,
    UserRecord,
)


class MemoryBlockStore:
    """``BlockStore`` in a dict keyed by (blocker, blocked)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.blocks: dict[tuple[int, int], BlockRecord] = {}

    async def add(self, blocker_id: int, blocked_id: int, now_ms: int) -> tuple[BlockRecord, bool]:
        """Store the block unless it exists."""
        existing = self.blocks.get((blocker_id, blocked_id))
        if existing is not None:
            return existing, False
        record = BlockRecord(
            id=next(self._ids), blocker_id=blocker_id, blocked_id=blocked_id, blocked_at=now_ms
        )
        self.blocks[blocker_id, blocked_id] = record
        return record, True

    async def remove(self, blocker_id: int, blocked_id: int) -> bool:
        """Delete the block."""
        return self.blocks.pop((blocker_id, blocked_id), None) is not None

    async def blocked_by(self, blocker_id: int) -> set[int]:
        """Every user ``blocker_id`` has blocked."""
        return {blocked for blocker, blocked in self.blocks if blocker == blocker_id}

    async def page(
        self, blocker_id: int, *, before_id: int | None, limit: int
    ) -> list[BlockRecord]:
        """Newest first, below ``before_id``."""
        mine = [
            b
            for b in self.blocks.values()
            if b.blocker_id == blocker_id and (before_id is None or b.id < before_id)
        ]
        return sorted(mine, key=lambda b: -b.id)[:limit]


class MemoryInviteStore:
    """``InviteStore`` in a dict; :class:`MemoryUserStore` takes uses from it."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.invites: dict[int, InviteRecord] = {}

    async def create(
        self, *, code_hash: str, max_uses: int, expires_at: int | None, note: str, now_ms: int
    ) -> InviteRecord:
        """Store a new invite with no uses taken."""
        invite = InviteRecord(
            id=next(self._ids),
            code_hash=code_hash,
            uses=0,
            max_uses=max_uses,
            expires_at=expires_at,
            note=note,
            created_at=now_ms,
            revoked_at=None,
        )
        self.invites[invite.id] = invite
        return invite

    async def get(self, invite_id: int) -> InviteRecord | None:
        """An invite by id."""
        return self.invites.get(invite_id)

    async def by_hash(self, code_hash: str) -> InviteRecord | None:
        """The invite whose code hashes to ``code_hash``."""
        return next((i for i in self.invites.values() if i.code_hash == code_hash), None)

    async def newest(self, limit: int) -> list[InviteRecord]:
        """The newest ``limit`` invites, newest first."""
        return sorted(self.invites.values(), key=lambda i: -i.id)[:limit]

    async def revoke(self, invite_id: int, now_ms: int) -> InviteRecord | None:
        """Make an invite unusable, keeping an earlier revocation time."""
        invite = self.invites.get(invite_id)
        if invite is not None and invite.revoked_at is None:
            invite = self.invites[invite_id] = msgspec.structs.replace(invite, revoked_at=now_ms)
        return invite


class MemoryUserStore:
    """``UserStore`` in a dict. Usernames arrive normalised, so they compare exactly."""

    def __init__(self, invites: MemoryInviteStore | None = None) -> None:
        self._ids = itertools.count(1)
        self._users: dict[int, UserRecord] = {}
        self._by_name: dict[str, int] = {}
        self._devices: dict[tuple[int, str], DeviceRecord] = {}
        self._invites = invites or MemoryInviteStore()

    async def create(
        self,
        *,
        username: str,
        nickname: str,
        password_hash: str,
        now_ms: int,
        invite_hash: str | None = None,
    ) -> UserRecord:
        """Insert a user, taking a use of the invite; nothing changes when either fails."""
        invite = None
        if invite_hash is not None:
            invite = await self._invites.by_hash(invite_hash)
            if invite is None or not invite_usable(invite, now_ms):
                raise InviteNotUsable(invite)
        if username in self._by_name:
            raise UsernameTaken(username)
        if invite is not None:
            self._invites.invites[invite.id] = msgspec.structs.replace(invite, uses=invite.uses + 1)
        user = UserRecord(
            id=next(self._ids),
            username=username,
            nickname=nickname,
            password_hash=password_hash,
            created_at=now_ms,
        )
        self._users[user.id] = user
        self._by_name[username] = user.id
        return user

    async def by_username(self, username: str) -> UserRecord | None:
        """The user with this username."""
        user_id = self._by_name.get(username)
        return None if user_id is None else self._users[user_id]

    async def by_id(self, user_id: int) -> UserRecord | None:
        """The user with this id."""
        return self._users.get(user_id)

    async def existing_ids(self, user_ids: set[int]) -> set[int]:
        """Which of these ids exist."""
        return {u for u in user_ids if u in self._users}

    async def set_disabled(self, user_id: int, disabled_at: int | None) -> UserRecord | None:
        """Disable or enable; an already disabled user keeps its first time."""
        user = self._users.get(user_id)
        if user is None:
            return None
        if disabled_at is None or user.disabled_at is None:
            user = self._users[user_id] = msgspec.structs.replace(user, disabled_at=disabled_at)
        return user

    async def set_password_hash(self, user_id: int, password_hash: str) -> bool:
        """Replace the password hash."""
        user = self._users.get(user_id)
        if user is None:
            return False
        self._users[user_id] = msgspec.structs.replace(user, password_hash=password_hash)
        return True

    async def save_device(self, device: DeviceRecord) -> None:
        """Insert or update (user_id, device_id)."""
        self._devices[(device.user_id, device.device_id)] = device

    async def devices_of(self, user_ids: set[int]) -> list[DeviceRecord]:
        """All devices of these users."""
        return [d for d in self._devices.values() if d.user_id in user_ids]


class MemorySessionStore:
    """``SessionStore`` in a dict."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._sessions: dict[int, SessionRecord] = {}

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
        """Start a session, ending the device's live ones; return it and the ended ids."""
        ended = [
            s.id
            for s in self._sessions.values()
            if s.user_id == user_id and s.device_id == device_id and s.revoked_at is None
        ]
        for session_id in ended:
            self._sessions[session_id] = msgspec.structs.replace(
                self._sessions[session_id], revoked_at=now_ms, end_reason="replaced"
            )
        session = SessionRecord(
            id=next(self._ids),
            user_id=user_id,
            device_id=device_id,
            client_type=client_type,
            refresh_hash=refresh_hash,
            refresh_expires_at=refresh_expires_at,
            revoked_at=None,
        )
        self._sessions[session.id] = session
        return session, ended

    async def get(self, session_id: int) -> SessionRecord | None:
        """A session by id."""
        return self._sessions.get(session_id)

    async def set_refresh(
        self, session_id: int, *, expected_hash: str, new_hash: str, refresh_expires_at: int
    ) -> bool:
        """Swap the refresh hash if it still is ``expected_hash`` and the session is live."""
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        if session.refresh_hash != expected_hash:
            return False
        self._sessions[session_id] = msgspec.structs.replace(
            session,
            refresh_hash=new_hash,
            previous_hashes=(*session.previous_hashes, expected_hash)[-ROTATED_HASHES_KEPT:],
            refresh_expires_at=refresh_expires_at,
        )
        return True

    async def revoke(
        self, session_id: int, now_ms: int, reason: SessionEndReason | None = None
    ) -> bool:
        """End a session; False if it was already ended or never existed."""
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._sessions[session_id] = msgspec.structs.replace(
            session, revoked_at=now_ms, end_reason=reason
        )
        return True

    async def end_all_of(
        self, user_id: int, now_ms: int, reason: SessionEndReason
    ) -> list[SessionRecord]:
        """End every live session of ``user_id``; return them as ended."""
        ended = []
        for session in list(self._sessions.values()):
            if session.user_id == user_id and session.revoked_at is None:
                session = msgspec.structs.replace(session, revoked_at=now_ms, end_reason=reason)
                self._sessions[session.id] = session
                ended.append(session)
        return ended

    async def ended_since(
        self, since_ms: int, *, after_id: int = 0, limit: int
    ) -> list[SessionRecord]:
        """Ended sessions after ``(since_ms, after_id)`` in ``(revoked_at, id)`` order."""
        ended = [
            s
            for s in self._sessions.values()
            if s.revoked_at is not None and (s.revoked_at, s.id) > (since_ms, after_id)
        ]
        return sorted(ended, key=lambda s: (s.revoked_at or 0, s.id))[:limit]

    async def revoked_since(self, since_ms: int) -> list[int]:
        """Ids of sessions ended at or after ``since_ms``."""
        return [
            s.id
            for s in self._sessions.values()
            if s.revoked_at is not None and s.revoked_at >= since_ms
        ]


class FakeHasher:
    """``PasswordHasher`` without the deliberate slowness of argon2; counts its calls."""

    def __init__(self) -> None:
        self.verify_calls = 0

    @property
    def pending(self) -> int:
        """Nothing ever waits: the fake hashes at once."""
        return 0

    async def hash(self, password: str) -> str:
        """A recognisable, unsalted digest: fine for tests, never for production."""
        return "fake$" + hashlib.sha256(password.encode()).hexdigest()

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``."""
        self.verify_calls += 1
        return password_hash == await self.hash(password)
