"""IdentityAdminService: implements :class:`IdentityAdmin`, the operator's account controls."""

from __future__ import annotations

import logging
from typing import TypeVar

import msgspec

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Conflict, InvalidInput, NotFound
from gomicroim.modules.identity.contract import (
    AccountChanged,
    AccountRead,
    InviteCreated,
    InviteRead,
    Password,
    SessionEndReason,
    UserCreate,
)
from gomicroim.modules.identity.domain import (
    check_password,
    hash_secret,
    new_invite_code,
    normalize_username,
)
from gomicroim.modules.identity.ending import SessionEnding
from gomicroim.modules.identity.ports import (
    InviteRecord,
    InviteStore,
    PasswordHasher,
    SessionStore,
    UsernameTaken,
    UserRecord,
    UserStore,
)

log = logging.getLogger("gomicroim.identity.admin")

#: An invite's note is shown in listings and logs: one line of printable text.
MAX_NOTE_CHARS = 200


class IdentityAdminService:
    """Accounts and invites as an operator changes them; every change is logged."""

    def __init__(
        self,
        *,
        users: UserStore,
        sessions: SessionStore,
        invites: InviteStore,
        hasher: PasswordHasher,
        ending: SessionEnding,
        min_password_chars: int = 8,
        clock: Clock = now_ms,
    ):
        self._users = users
        self._sessions = sessions
        self._invites = invites
        self._hasher = hasher
        self._ending = ending
        self._min_password_chars = min_password_chars
        self._clock = clock

    async def create_user(
        self, username: str, password: str, nickname: str | None = None
    ) -> AccountRead:
        """Create an account; see :meth:`IdentityAdmin.create_user`."""
        # The API's own rules for names and passwords, whatever path the account comes by.
        request = _checked(UserCreate, username=username, password=password, nickname=nickname)
        name = normalize_username(request.username)
        check_password(request.password, name, self._min_password_chars)
        try:
            user = await self._users.create(
                username=name,
                nickname=request.nickname or request.username,
                password_hash=await self._hasher.hash(request.password),
                now_ms=self._clock(),
            )
        except UsernameTaken as exc:
            raise Conflict(f"username {name!r} is taken", code="username_taken") from exc
        log.info("user created by operator", extra={"user_id": user.id})
        return _account(user)

    async def disable_user(self, username: str) -> AccountChanged:
        """Disable and end every session; see :meth:`IdentityAdmin.disable_user`."""
        user = await self._user(username)
        now = self._clock()
        # The flag first, then the sessions: a login racing this sees one or the other.
        # Users are never deleted, so ``or user`` is only there for the type.
        updated = await self._users.set_disabled(user.id, now) or user
        ended = await self._end_sessions(user.id, "user_disabled", now)
        log.warning("user disabled", extra={"user_id": user.id, "sessions_ended": ended})
        return AccountChanged(
            account=_account(updated), changed=user.disabled_at is None, sessions_ended=ended
        )

    async def enable_user(self, username: str) -> AccountChanged:
        """Let the account in again; see :meth:`IdentityAdmin.enable_user`."""
        user = await self._user(username)
        updated = await self._users.set_disabled(user.id, None) or user
        log.warning("user enabled", extra={"user_id": user.id})
        return AccountChanged(
            account=_account(updated), changed=user.disabled_at is not None, sessions_ended=0
        )

    async def reset_password(self, username: str, password: str) -> AccountChanged:
        """Set a new password, ending every session; see :meth:`IdentityAdmin.reset_password`."""
        user = await self._user(username)
        _checked(_NewPassword, password=password)
        check_password(password, user.username, self._min_password_chars)
        await self._users.set_password_hash(user.id, await self._hasher.hash(password))
        ended = await self._end_sessions(user.id, "password_reset", self._clock())
        log.warning("password reset", extra={"user_id": user.id, "sessions_ended": ended})
        return AccountChanged(account=_account(user), changed=True, sessions_ended=ended)

    async def create_invite(
        self, *, max_uses: int, expires_at: int | None, note: str
    ) -> InviteCreated:
        """A new invite code; see :meth:`IdentityAdmin.create_invite`."""
        now = self._clock()
        if max_uses < 1:
            raise InvalidInput("uses: must be at least 1", code="invalid_field", field="uses")
        if expires_at is not None and expires_at <= now:
            raise InvalidInput(
                "expires_in: must be in the future", code="invalid_field", field="expires_in"
            )
        if len(note) > MAX_NOTE_CHARS or not note.isprintable():
            raise InvalidInput(
                f"note: at most {MAX_NOTE_CHARS} printable characters on one line",
                code="invalid_field",
                field="note",
            )
        code, code_hash = new_invite_code()
        invite = await self._invites.create(
            code_hash=code_hash, max_uses=max_uses, expires_at=expires_at, note=note, now_ms=now
        )
        log.info("invite created", extra={"invite_id": invite.id, "max_uses": max_uses})
        return InviteCreated(invite=_invite(invite), code=code)

    async def list_invites(self, *, limit: int) -> list[InviteRead]:
        """The newest invites; see :meth:`IdentityAdmin.list_invites`."""
        return [_invite(invite) for invite in await self._invites.newest(limit)]

    async def revoke_invite(self, code_or_id: str) -> InviteRead:
        """Revoke by code or id; see :meth:`IdentityAdmin.revoke_invite`."""
        if code_or_id.isascii() and code_or_id.isdigit() and len(code_or_id) <= 16:
            found = await self._invites.get(int(code_or_id))
        else:
            found = await self._invites.by_hash(hash_secret(code_or_id))
        if found is None:
            raise NotFound(
                f"no invite has the id or code {code_or_id!r}; see gomicroim invites list",
                code="invite_not_found",
            )
        revoked = await self._invites.revoke(found.id, self._clock()) or found
        log.warning("invite revoked", extra={"invite_id": found.id})
        return _invite(revoked)

    async def _user(self, username: str) -> UserRecord:
        user = await self._users.by_username(normalize_username(username))
        if user is None:
            raise NotFound(f"no user is called {username!r}", code="user_not_found")
        return user

    async def _end_sessions(self, user_id: int, reason: SessionEndReason, now: int) -> int:
        ended = await self._sessions.end_all_of(user_id, now, reason)
        for session in ended:
            await self._ending.spread(
                session_id=session.id,
                user_id=user_id,
                device_id=session.device_id,
                reason=reason,
                now_ms=now,
            )
        return len(ended)


class _NewPassword(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    password: Password


S = TypeVar("S", bound=msgspec.Struct)


def _checked(kind: type[S], **values: object) -> S:
    try:
        return msgspec.convert({k: v for k, v in values.items() if v is not None}, kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at ")
        field = where.strip("`").removeprefix("$.") if message else None
        text = f"{field}: {message}" if field else str(exc)
        raise InvalidInput(text, code="invalid_field", field=field) from exc


def _account(user: UserRecord) -> AccountRead:
    return AccountRead(
        id=user.id,
        username=user.username,
        nickname=user.nickname,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


def _invite(invite: InviteRecord) -> InviteRead:
    return InviteRead(
        id=invite.id,
        uses=invite.uses,
        max_uses=invite.max_uses,
        expires_at=invite.expires_at,
        note=invite.note,
        created_at=invite.created_at,
        revoked_at=invite.revoked_at,
    )
