"""IdentityService: implements :class:`IdentityFacade` over the identity ports."""

from __future__ import annotations

import logging

from gomicroim.caching import Cache, CacheStats, Invalidations, invalidate_everywhere
from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Conflict, NotFound, Unauthenticated
from gomicroim.modules.identity.contract import (
    DeviceRead,
    LoginRequest,
    Principal,
    SessionEnded,
    SessionEndReason,
    TokenPair,
    UserCreate,
    UserRead,
)
from gomicroim.modules.identity.domain import (
    RefreshToken,
    check_password,
    normalize_username,
    same_hash,
)
from gomicroim.modules.identity.ports import (
    DeviceRecord,
    DevicesChanged,
    PasswordHasher,
    RevocationList,
    SessionEventPublisher,
    SessionRecord,
    SessionStore,
    UsernameTaken,
    UserRecord,
    UserStore,
)
from gomicroim.modules.identity.tokens import AccessTokens

log = logging.getLogger("gomicroim.identity")

#: Users whose existence is remembered (an LRU; about 100 bytes each).
KNOWN_USERS_CACHED = 100_000
#: Users whose device lists are cached (asked for every message fanned out).
DEVICE_LISTS_CACHED = 100_000

_BAD_CREDENTIALS = "username or password is wrong"


class IdentityService:
    """Accounts, device sessions and token rotation."""

    def __init__(
        self,
        *,
        users: UserStore,
        sessions: SessionStore,
        revocations: RevocationList,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        refresh_ttl_ms: int,
        device_cache_ttl_s: float = 5.0,
        min_password_chars: int = 8,
        clock: Clock = now_ms,
        events: SessionEventPublisher | None = None,
        device_events: Invalidations[DevicesChanged] | None = None,
        cache_stats: CacheStats | None = None,
    ):
        self._min_password_chars = min_password_chars
        # Asked for every message fanned out; logins on any process invalidate (through
        # ``device_events``), the TTL bounds the rest.
        self._devices: Cache[int, list[DeviceRead]] = Cache(
            "identity_devices",
            max_size=DEVICE_LISTS_CACHED,
            ttl_s=device_cache_ttl_s,
            stats=cache_stats,
        )
        # Users are never deleted, so a user once seen exists for good: no TTL, no invalidation.
        self._known_users: Cache[int, bool] = Cache(
            "identity_known_users", max_size=KNOWN_USERS_CACHED, stats=cache_stats
        )
        self._device_events = device_events
        if device_events is not None:
            device_events.subscribe(self._devices_changed)
            device_events.on_gap(self._drop_caches)
        self._users = users
        self._sessions = sessions
        self._revocations = revocations
        self._hasher = hasher
        self._tokens = tokens
        self._refresh_ttl_ms = refresh_ttl_ms
        self._clock = clock
        self._events = events
        # A dummy hash to verify against for unknown users, so both paths cost the same.
        self._dummy_hash: str | None = None

    async def start(self) -> None:
        """Reload recently ended sessions so a restart does not revive their access tokens.

        The same reload runs whenever a shared revocation list lost its entries.
        """
        await self.reload_revocations()
        self._revocations.on_lost(self.reload_revocations)
        self._dummy_hash = await self._hasher.hash("not-a-real-password")

    async def reload_revocations(self) -> None:
        """Revoke again every session the sessions table says ended within a token's life."""
        now = self._clock()
        window = self._tokens.max_validity_ms
        ended = await self._sessions.revoked_since(now - window)
        for session_id in ended:
            await self._revocations.revoke(session_id, now + window)
        log.info("revocations loaded", extra={"sessions": len(ended)})

    async def register(self, request: UserCreate) -> UserRead:
        """Create an account; see :meth:`IdentityFacade.register`."""
        username = normalize_username(request.username)
        check_password(request.password, username, self._min_password_chars)
        password_hash = await self._hasher.hash(request.password)
        try:
            user = await self._users.create(
                username=username,
                nickname=request.nickname or request.username,
                password_hash=password_hash,
                now_ms=self._clock(),
            )
        except UsernameTaken as exc:
            raise Conflict(
                f"username {username!r} is taken; choose another", code="username_taken"
            ) from exc
        log.info("user registered", extra={"user_id": user.id})
        return _user_read(user)

    async def login(self, request: LoginRequest) -> TokenPair:
        """Verify the password and open a device session; see :meth:`IdentityFacade.login`."""
        user = await self._users.by_username(normalize_username(request.username))
        if user is None:
            await self._hasher.verify(self._dummy_hash or "", request.password)
            raise Unauthenticated(_BAD_CREDENTIALS, code="bad_credentials")
        if not await self._hasher.verify(user.password_hash, request.password):
            raise Unauthenticated(_BAD_CREDENTIALS, code="bad_credentials")
        now = self._clock()
        await self._users.save_device(
            DeviceRecord(
                user_id=user.id,
                device_id=request.device_id,
                client_type=request.client_type,
                platform=request.platform,
                last_login_at=now,
            )
        )
        secret, refresh_hash = RefreshToken.new_secret()
        session, ended = await self._sessions.open(
            user_id=user.id,
            device_id=request.device_id,
            client_type=request.client_type,
            refresh_hash=refresh_hash,
            refresh_expires_at=now + self._refresh_ttl_ms,
            now_ms=now,
        )
        for session_id in ended:
            await self._revocations.revoke(session_id, now + self._tokens.max_validity_ms)
            await self._announce(session_id, user.id, request.device_id, "replaced", now)
        await self._devices_saved(user.id)
        log.info("login", extra={"user_id": user.id, "device_id": request.device_id})
        return self._pair(session, RefreshToken.format(session.id, secret), now)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate tokens; see :meth:`IdentityFacade.refresh`."""
        session_id, presented = RefreshToken.parse(refresh_token)
        session = await self._sessions.get(session_id)
        now = self._clock()
        if session is None or session.revoked_at is not None:
            raise Unauthenticated("refresh token is not valid", code="invalid_refresh_token")
        if session.refresh_expires_at <= now:
            raise Unauthenticated(
                "refresh token expired; log in again", code="invalid_refresh_token"
            )
        if not same_hash(session.refresh_hash, presented):
            if not any(same_hash(old, presented) for old in session.previous_hashes):
                # A guess, not a leak: refusing it must not let anyone end others' sessions.
                raise Unauthenticated("refresh token is not valid", code="invalid_refresh_token")
            await self._end(session, "refresh_token_reused", now)
            log.warning("refresh token reused", extra={"user_id": session.user_id})
            raise Unauthenticated(
                "refresh token was already used; the session is ended, log in again",
                code="refresh_token_reused",
            )
        secret, new_hash = RefreshToken.new_secret()
        expires_at = now + self._refresh_ttl_ms
        swapped = await self._sessions.set_refresh(
            session.id, expected_hash=presented, new_hash=new_hash, refresh_expires_at=expires_at
        )
        if not swapped:
            # A concurrent refresh won the race with the same token: that is reuse too.
            await self._end(session, "refresh_token_reused", now)
            raise Unauthenticated(
                "refresh token was already used; the session is ended, log in again",
                code="refresh_token_reused",
            )
        rotated = SessionRecord(
            id=session.id,
            user_id=session.user_id,
            device_id=session.device_id,
            client_type=session.client_type,
            refresh_hash=new_hash,
            refresh_expires_at=expires_at,
            revoked_at=None,
            previous_hashes=(*session.previous_hashes, presented),
        )
        return self._pair(rotated, RefreshToken.format(session.id, secret), now)

    async def logout(self, principal: Principal) -> None:
        """End the caller's session; see :meth:`IdentityFacade.logout`."""
        await self._end(principal, "logout", self._clock())
        log.info("logout", extra={"user_id": principal.user_id, "device_id": principal.device_id})

    async def authenticate(self, access_token: str) -> Principal:
        """Verify an access token; see :meth:`IdentityFacade.authenticate`."""
        principal = self._tokens.verify(access_token)
        if await self._revocations.is_revoked(principal.session_id):
            raise Unauthenticated("session has ended; log in again", code="token_revoked")
        return principal

    async def get_user(self, user_id: int) -> UserRead:
        """A user's profile; see :meth:`IdentityFacade.get_user`."""
        user = await self._users.by_id(user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist", code="user_not_found")
        return _user_read(user)

    async def find_user(self, username: str) -> UserRead:
        """Exact, case-insensitive lookup; see :meth:`IdentityFacade.find_user`."""
        user = await self._users.by_username(normalize_username(username))
        if user is None:
            raise NotFound(f"no user is called {username!r}", code="user_not_found")
        return _user_read(user)

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        """Which of ``user_ids`` exist."""
        known = {user_id for user_id in user_ids if self._known_users.get(user_id)}
        unknown = user_ids - known
        if unknown:
            found = await self._users.existing_ids(unknown)
            for user_id in found:
                self._known_users.put(user_id, True)
            known |= found
        return known

    async def devices_of(self, user_ids: set[int]) -> dict[int, list[DeviceRead]]:
        """Devices per user."""
        out: dict[int, list[DeviceRead]] = {}
        missing: set[int] = set()
        for user_id in user_ids:
            cached = self._devices.get(user_id)
            if cached is None:
                missing.add(user_id)
            elif cached:
                out[user_id] = cached
        if not missing:
            return out
        # Taken before the read: a login that invalidates meanwhile keeps its fresh list.
        since = self._devices.version
        loaded: dict[int, list[DeviceRead]] = {user_id: [] for user_id in missing}
        for device in await self._users.devices_of(missing):
            loaded[device.user_id].append(
                DeviceRead(
                    user_id=device.user_id,
                    device_id=device.device_id,
                    client_type=device.client_type,
                    platform=device.platform,
                    last_login_at=device.last_login_at,
                )
            )
        for user_id, devices in loaded.items():
            self._devices.put(user_id, devices, since=since)
            if devices:
                out[user_id] = devices
        return out

    async def _devices_saved(self, user_id: int) -> None:
        event = DevicesChanged(user_id=user_id)
        await invalidate_everywhere(self._devices, user_id, self._device_events, event)

    async def _devices_changed(self, event: DevicesChanged) -> None:
        self._devices.invalidate(event.user_id)

    async def _drop_caches(self) -> None:
        self._devices.clear()
        log.info("device lists dropped after missed invalidations")

    async def _end(
        self, session: SessionRecord | Principal, reason: SessionEndReason, now: int
    ) -> None:
        session_id = session.id if isinstance(session, SessionRecord) else session.session_id
        await self._sessions.revoke(session_id, now)
        await self._revocations.revoke(session_id, now + self._tokens.max_validity_ms)
        await self._announce(session_id, session.user_id, session.device_id, reason, now)

    async def _announce(
        self, session_id: int, user_id: int, device_id: str, reason: SessionEndReason, now: int
    ) -> None:
        # After the revocation, never before: a socket that authenticates in between is then
        # either refused by the revocation list or found open by the event.
        if self._events is not None:
            event = SessionEnded(
                session_id=session_id,
                user_id=user_id,
                device_id=device_id,
                reason=reason,
                ended_at=now,
            )
            await self._events.publish(event)

    def _pair(self, session: SessionRecord, refresh_token: str, now: int) -> TokenPair:
        principal = Principal(
            user_id=session.user_id,
            device_id=session.device_id,
            session_id=session.id,
            client_type=session.client_type,
        )
        access_token, access_expires_at = self._tokens.issue(principal, now)
        return TokenPair(
            user_id=session.user_id,
            device_id=session.device_id,
            access_token=access_token,
            refresh_token=refresh_token,
            access_expires_at=access_expires_at,
            refresh_expires_at=session.refresh_expires_at,
        )


def _user_read(user: UserRecord) -> UserRead:
    return UserRead(
        id=user.id, username=user.username, nickname=user.nickname, created_at=user.created_at
    )
