"""Fakes of identity's ports: users, devices, sessions and a fast password hasher."""

from __future__ import annotations

import hashlib
import itertools

import msgspec

from gomicroim.modules.identity.contract import ClientType
from gomicroim.modules.identity.ports import (
    ROTATED_HASHES_KEPT,
    DeviceRecord,
    SessionRecord,
    UsernameTaken,
    UserRecord,
)


class MemoryUserStore:
    """``UserStore`` in a dict. Usernames arrive normalised, so they compare exactly."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._users: dict[int, UserRecord] = {}
        self._by_name: dict[str, int] = {}
        self._devices: dict[tuple[int, str], DeviceRecord] = {}

    async def create(
        self, *, username: str, nickname: str, password_hash: str, now_ms: int
    ) -> UserRecord:
        """Insert a user; raise :class:`UsernameTaken` if the name exists."""
        if username in self._by_name:
            raise UsernameTaken(username)
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
                self._sessions[session_id], revoked_at=now_ms
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

    async def revoke(self, session_id: int, now_ms: int) -> bool:
        """End a session; False if it was already ended or never existed."""
        session = self._sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._sessions[session_id] = msgspec.structs.replace(session, revoked_at=now_ms)
        return True

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
