"""Pure identity rules: access-token claims and the refresh-token format. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import cast

import jwt

from gomicroim.errors import Unauthenticated
from gomicroim.modules.identity.contract import ClientType, Principal

_ALGORITHM = "HS256"
_CLOCK_SKEW_S = 10
_VERIFIED_CACHE_SIZE = 100_000
_CLIENT_TYPES = ("app", "web", "desktop")


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive; they are stored and compared in lower case."""
    return username.lower()


class AccessTokens:
    """Issues and verifies signed, short-lived access tokens (JWT, HS256)."""

    def __init__(self, secret: str, ttl_ms: int):
        self._key = secret.encode()
        self.ttl_ms = ttl_ms
        #: How long after issue a token may still pass :meth:`verify` (lifetime + clock skew);
        #: an ended session must be remembered at least this long.
        self.max_validity_ms = ttl_ms + _CLOCK_SKEW_S * 1000
        # token -> (principal, exp in s): signature checks cost more than the rest of a request.
        self._verified: dict[str, tuple[Principal, int]] = {}

    def issue(self, principal: Principal, now_ms: int) -> tuple[str, int]:
        """Sign a token for ``principal``; return it with its expiry in Unix ms."""
        expires_at = now_ms + self.ttl_ms
        claims = {
            "sub": str(principal.user_id),
            "did": principal.device_id,
            "sid": principal.session_id,
            "ct": principal.client_type,
            "iat": now_ms // 1000,
            "exp": expires_at // 1000,
            "typ": "access",
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires_at

    def verify(self, token: str) -> Principal:
        """Check signature, expiry and shape.

        Raises:
            Unauthenticated: ``token_expired`` or ``invalid_token``.
        """
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires_s = cached
            if time.time() <= expires_s + _CLOCK_SKEW_S:
                return principal
            del self._verified[token]
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "sub", "sid", "did"]},
                # Replicas' clocks differ a little; a token must not fail for that alone.
                leeway=_CLOCK_SKEW_S,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated(
                "access token expired; refresh it at POST /api/v1/auth/refresh",
                code="token_expired",
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("access token is not valid", code="invalid_token") from exc
        principal = _principal(claims)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, int(claims["exp"]))
        return principal


def _principal(claims: dict[str, object]) -> Principal:
    client_type = claims.get("ct")
    sid = claims.get("sid")
    did = claims.get("did")
    sub = claims.get("sub")
    if (
        claims.get("typ") != "access"
        or client_type not in _CLIENT_TYPES
        or not isinstance(sid, int)
        or not isinstance(did, str)
        or not isinstance(sub, str)
        or not _is_decimal(sub)
    ):
        raise Unauthenticated("access token is not valid", code="invalid_token")
    return Principal(
        user_id=int(sub),
        device_id=did,
        session_id=sid,
        client_type=cast(ClientType, client_type),
        expires_at=int(cast(int, claims["exp"])) * 1000,
    )


class RefreshToken:
    """``<session_id>.<secret>``: the session is found by id, the secret checked by hash."""

    @staticmethod
    def new_secret() -> tuple[str, str]:
        """A fresh random secret and the hash to store for it."""
        secret = secrets.token_urlsafe(32)
        return secret, hash_secret(secret)

    @staticmethod
    def format(session_id: int, secret: str) -> str:
        """The token a client keeps."""
        return f"{session_id}.{secret}"

    @staticmethod
    def parse(token: str) -> tuple[int, str]:
        """Split a token into its session id and the hash of its secret.

        Raises:
            Unauthenticated: ``invalid_refresh_token`` for anything not of that form.
        """
        sid, sep, secret = token.partition(".")
        if not sep or not _is_decimal(sid) or not secret or len(sid) > 18:
            raise Unauthenticated("refresh token is not valid", code="invalid_refresh_token")
        return int(sid), hash_secret(secret)


def _is_decimal(text: str) -> bool:
    # str.isdigit() also accepts digits like "²" that int() rejects: ASCII only.
    return text.isascii() and text.isdigit()


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a refresh secret; secrets are random, so no salt or slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a, b)
