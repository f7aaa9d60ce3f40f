"""Identity storage: tortoise models and the SQL, in-process and Redis adapters of its ports."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import cast

import msgspec
from tortoise import fields, models
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from gomicroim.infra.redis import RedisEngine
from gomicroim.infra.retry import RetryPolicy, is_transient
from gomicroim.modules.identity.contract import ClientType, SessionEndReason
from gomicroim.modules.identity.ports import (
    ROTATED_HASHES_KEPT,
    DeviceRecord,
    InviteNotUsable,
    SessionRecord,
    UsernameTaken,
    UserRecord,
)
from gomicroim.modules.identity.storage.blocks import Block, SqlBlockStore
from gomicroim.modules.identity.storage.invites import Invite, SqlInviteStore, take_invite_use

__all__ = ["Block", "Invite", "SqlBlockStore", "SqlInviteStore"]

#: Racing logins of one device collide on ``live_key`` until one wins; give them room.
_OPEN_RETRY = RetryPolicy(attempts=10)


def _open_retryable(exc: Exception) -> bool:
    # The loser of two concurrent logins hits the unique live_key: it retries and ends the winner.
    return isinstance(exc, IntegrityError) or is_transient(exc)


class User(models.Model):
    """A registered account."""

    id = fields.BigIntField(primary_key=True)
    username = fields.CharField(max_length=32, unique=True)
    nickname = fields.CharField(max_length=64)
    password_hash = fields.CharField(max_length=255)
    created_at = fields.BigIntField()
    disabled_at = fields.BigIntField(null=True, default=None)

    class Meta:
        table = "identity_user"


class Device(models.Model):
    """A device of a user, keyed by the client-chosen device id."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    device_id = fields.CharField(max_length=64)
    client_type = fields.CharField(max_length=16)
    platform = fields.CharField(max_length=32, null=True)
    last_login_at = fields.BigIntField()

    class Meta:
        table = "identity_device"
        unique_together = (("user_id", "device_id"),)


class Session(models.Model):
    """One login of one device."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    device_id = fields.CharField(max_length=64)
    client_type = fields.CharField(max_length=16)
    refresh_hash = fields.CharField(max_length=64)
    # Space-separated hashes of rotated refresh tokens, newest last (reuse detection).
    previous_hashes = fields.TextField(null=True)
    refresh_expires_at = fields.BigIntField()
    created_at = fields.BigIntField()
    revoked_at = fields.BigIntField(null=True, db_index=True)
    # "<user_id>:<device_id>" while live, NULL once ended: at most one live session per device.
    live_key = fields.CharField(max_length=100, null=True, unique=True)
    end_reason = fields.CharField(max_length=32, null=True, default=None)

    class Meta:
        table = "identity_session"
        indexes = (("user_id", "device_id"),)


def _user(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        nickname=row.nickname,
        password_hash=row.password_hash,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _session(row: Session) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        device_id=row.device_id,
        client_type=cast(ClientType, row.client_type),
        refresh_hash=row.refresh_hash,
        refresh_expires_at=row.refresh_expires_at,
        revoked_at=row.revoked_at,
        previous_hashes=tuple((row.previous_hashes or "").split()),
        end_reason=cast(SessionEndReason | None, row.end_reason),
    )


class SqlUserStore:
    """``UserStore`` on the relational database (SQLite or MySQL)."""

    async def create(
        self,
        *,
        username: str,
        nickname: str,
        password_hash: str,
        now_ms: int,
        invite_hash: str | None = None,
    ) -> UserRecord:
        """Insert a user, taking one use of the invite in the same transaction."""

        async def attempt() -> UserRecord:
            async with in_transaction():
                if invite_hash is not None and not await take_invite_use(invite_hash, now_ms):
                    raise InviteNotUsable(await SqlInviteStore().by_hash(invite_hash))
                row = await User.create(
                    username=username,
                    nickname=nickname,
                    password_hash=password_hash,
                    created_at=now_ms,
                )
            return _user(row)

        try:
            return await _OPEN_RETRY.run(attempt, what="user create", retry_if=is_transient)
        except IntegrityError as exc:
            raise UsernameTaken(username) from exc

    async def set_disabled(self, user_id: int, disabled_at: int | None) -> UserRecord | None:
        """Disable or enable; a disabled user keeps its first time."""
        users = User.filter(id=user_id)
        if disabled_at is not None:
            users = users.filter(disabled_at=None)
        await users.update(disabled_at=disabled_at)
        return await self.by_id(user_id)

    async def set_password_hash(self, user_id: int, password_hash: str) -> bool:
        """Replace the password hash."""
        return bool(await User.filter(id=user_id).update(password_hash=password_hash))

    async def by_username(self, username: str) -> UserRecord | None:
        """Find by username."""
        row = await User.get_or_none(username=username)
        return _user(row) if row else None

    async def by_id(self, user_id: int) -> UserRecord | None:
        """Find by id."""
        row = await User.get_or_none(id=user_id)
        return _user(row) if row else None

    async def existing_ids(self, user_ids: set[int]) -> set[int]:
        """Which ids exist."""
        rows = await User.filter(id__in=list(user_ids)).values_list("id", flat=True)
        return {int(cast(int, r)) for r in rows}

    async def save_device(self, device: DeviceRecord) -> None:
        """Upsert a device."""
        updated = await Device.filter(user_id=device.user_id, device_id=device.device_id).update(
            client_type=device.client_type,
            platform=device.platform,
            last_login_at=device.last_login_at,
        )
        if updated:
            return
        try:
            await Device.create(
                user_id=device.user_id,
                device_id=device.device_id,
                client_type=device.client_type,
                platform=device.platform,
                last_login_at=device.last_login_at,
            )
        except IntegrityError:
            # Lost a race with a concurrent login of the same device: update instead.
            await Device.filter(user_id=device.user_id, device_id=device.device_id).update(
                client_type=device.client_type,
                platform=device.platform,
                last_login_at=device.last_login_at,
            )

    async def devices_of(self, user_ids: set[int]) -> list[DeviceRecord]:
        """All devices of these users."""
        rows = await Device.filter(user_id__in=list(user_ids))
        return [
            DeviceRecord(
                user_id=r.user_id,
                device_id=r.device_id,
                client_type=cast(ClientType, r.client_type),
                platform=r.platform,
                last_login_at=r.last_login_at,
            )
            for r in rows
        ]


class SqlSessionStore:
    """``SessionStore`` on the relational database."""

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
        """Start a session and end the device's previous ones, atomically.

        ``live_key`` is unique and set only on the live session, so two concurrent logins of
        one device cannot both stay live: the loser hits the key, retries, and ends the winner.
        """

        async def attempt() -> tuple[SessionRecord, list[int]]:
            async with in_transaction():
                active = Session.select_for_update().filter(
                    user_id=user_id, device_id=device_id, revoked_at=None
                )
                ended = [int(cast(int, i)) for i in await active.values_list("id", flat=True)]
                if ended:
                    await Session.filter(id__in=ended).update(
                        revoked_at=now_ms, live_key=None, end_reason="replaced"
                    )
                row = await Session.create(
                    user_id=user_id,
                    device_id=device_id,
                    client_type=client_type,
                    refresh_hash=refresh_hash,
                    refresh_expires_at=refresh_expires_at,
                    created_at=now_ms,
                    live_key=f"{user_id}:{device_id}",
                )
            return _session(row), ended

        return await _OPEN_RETRY.run(attempt, what="session open", retry_if=_open_retryable)

    async def get(self, session_id: int) -> SessionRecord | None:
        """A session by id."""
        row = await Session.get_or_none(id=session_id)
        return _session(row) if row else None

    async def set_refresh(
        self, session_id: int, *, expected_hash: str, new_hash: str, refresh_expires_at: int
    ) -> bool:
        """Compare-and-swap the refresh hash, remembering the rotated one."""
        async with in_transaction():
            row = await Session.select_for_update().get_or_none(
                id=session_id, refresh_hash=expected_hash, revoked_at=None
            )
            if row is None:
                return False
            rotated = [*(row.previous_hashes or "").split(), expected_hash]
            updated = await Session.filter(
                id=session_id, refresh_hash=expected_hash, revoked_at=None
            ).update(
                refresh_hash=new_hash,
                previous_hashes=" ".join(rotated[-ROTATED_HASHES_KEPT:]),
                refresh_expires_at=refresh_expires_at,
            )
        return bool(updated)

    async def revoke(
        self, session_id: int, now_ms: int, reason: SessionEndReason | None = None
    ) -> bool:
        """End a session."""
        updated = await Session.filter(id=session_id, revoked_at=None).update(
            revoked_at=now_ms, live_key=None, end_reason=reason
        )
        return bool(updated)

    async def end_all_of(
        self, user_id: int, now_ms: int, reason: SessionEndReason
    ) -> list[SessionRecord]:
        """End a user's live sessions under their row locks; return them as ended."""
        async with in_transaction():
            live = await Session.select_for_update().filter(user_id=user_id, revoked_at=None)
            if live:
                await Session.filter(id__in=[row.id for row in live]).update(
                    revoked_at=now_ms, live_key=None, end_reason=reason
                )
        return [
            msgspec.structs.replace(_session(row), revoked_at=now_ms, end_reason=reason)
            for row in live
        ]

    async def ended_since(
        self, since_ms: int, *, after_id: int = 0, limit: int
    ) -> list[SessionRecord]:
        """Sessions ended recently, by the ``revoked_at`` index, keyset-paged."""
        rows = (
            await Session.filter(
                Q(revoked_at__gt=since_ms) | Q(revoked_at=since_ms, id__gt=after_id)
            )
            .order_by("revoked_at", "id")
            .limit(limit)
        )
        return [_session(row) for row in rows]

    async def revoked_since(self, since_ms: int) -> list[int]:
        """Sessions ended recently."""
        rows = await Session.filter(revoked_at__gte=since_ms).values_list("id", flat=True)
        return [int(cast(int, r)) for r in rows]


class MemoryRevocationList:
    """``RevocationList`` in process memory: the embedded shape, where one process checks tokens."""

    def __init__(self) -> None:
        self._until: dict[int, int] = {}
        self._last_sweep = 0.0

    async def revoke(self, session_id: int, until_ms: int) -> None:
        """Remember the session as ended."""
        self._until[session_id] = max(until_ms, self._until.get(session_id, 0))
        self._sweep()

    async def is_revoked(self, session_id: int) -> bool:
        """Whether the session is ended (and its deadline not yet passed)."""
        until = self._until.get(session_id)
        return until is not None and until > time.time() * 1000

    def on_lost(self, reload: Callable[[], Awaitable[None]]) -> None:
        """Process memory is lost only with the process: ``reload`` is never called."""

    def _sweep(self) -> None:
        # Entries are only needed while an access token of the session could still be valid.
        now = time.time()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        now_ms = int(now * 1000)
        for session_id in [s for s, until in self._until.items() if until < now_ms]:
            del self._until[session_id]


class RedisRevocationList:
    """``RevocationList`` in Redis: one key per ended session, expiring at its deadline.

    ``revoked:<session_id>`` under ``redis.key_prefix``. A check is one ``EXISTS``.
    """

    def __init__(self, engine: RedisEngine):
        self._engine = engine

    async def revoke(self, session_id: int, until_ms: int) -> None:
        """Create the key with its deadline, or move an existing deadline later (never earlier)."""
        if until_ms <= time.time() * 1000:
            return
        key = self._engine.key("revoked", session_id)
        with self._engine.errors():
            async with self._engine.client.pipeline(transaction=True) as pipe:
                pipe.set(key, b"1", pxat=until_ms, nx=True)
                pipe.pexpireat(key, until_ms, gt=True)
                await pipe.execute()

    async def is_revoked(self, session_id: int) -> bool:
        """One ``EXISTS``."""
        with self._engine.errors():
            return bool(await self._engine.client.exists(self._engine.key("revoked", session_id)))

    def on_lost(self, reload: Callable[[], Awaitable[None]]) -> None:
        """Reload after every Redis reset (see :class:`gomicroim.infra.redis.RedisEngine`)."""
        self._engine.on_reset(reload)
