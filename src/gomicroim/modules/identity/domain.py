"""Pure identity rules: access-token claims and the refresh-token format. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import cast

import jwt

from gomicroim.errors import InvalidInput, Unauthenticated
from gomicroim.modules.identity.contract import ClientType, Principal

_ALGORITHM = "HS256"
_CLOCK_SKEW_S = 10
_VERIFIED_CACHE_SIZE = 100_000
_CLIENT_TYPES = ("app", "web", "desktop")
#: ``typ`` of an access token; refresh tokens are opaque and never JWTs, but a token minted for
#: another purpose with the same key must not pass as an access token.
ACCESS_TYPE = "access"
#: Ids are below 2^53 (safe in JavaScript); larger ``sub``/``sid`` claims are invalid tokens.
_MAX_ID = 2**53 - 1
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "sid", "did", "typ"]


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive; they are stored and compared in lower case."""
    return username.lower()


def check_password(password: str, username: str, min_chars: int) -> None:
    """The password policy for new passwords: long enough, and not the username.

    Args:
        password: the new password as typed.
        username: the account's normalised (lower-case) username.
        min_chars: ``identity.min_password_chars``.

    Raises:
        InvalidInput: ``invalid_field`` on ``password`` saying which rule it breaks.
    """
    if len(password) < min_chars:
        raise InvalidInput(
            f"password: must be at least {min_chars} characters (identity.min_password_chars)",
            code="invalid_field",
            field="password",
        )
    # The first name an attacker tries; compared case-insensitively like usernames.
    if hmac.compare_digest(password.lower().encode(), username.encode()):
        raise InvalidInput(
            "password: must not be the username", code="invalid_field", field="password"
        )


class AccessTokens:
    """Issues and verifies signed, short-lived access tokens (JWT, HS256).

    A token carries ``iss`` (who signed it), ``aud`` (what it is for) and ``typ``; all three
    are checked, so a token signed with the same key for another service or purpose fails.
    """

    def __init__(
        self, secret: str, ttl_ms: int, *, issuer: str = "gomicroim", audience: str = "gomicroim"
    ):
        self._key = secret.encode()
        self._issuer = issuer
        self._audience = audience
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
            "iss": self._issuer,
            "aud": self._audience,
            "typ": ACCESS_TYPE,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires_at

    def verify(self, token: str) -> Principal:
        """Check signature, algorithm, expiry, issuer, audience, type and shape.

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
                # One allowed algorithm: "none" and any other alg in the header are refused.
                algorithms=[_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": _REQUIRED_CLAIMS},
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
        claims.get("typ") != ACCESS_TYPE
        or client_type not in _CLIENT_TYPES
        or not _is_id(sid)
        or not isinstance(did, str)
        or not isinstance(sub, str)
        # Length first: int() of thousands of digits is slow, and past 4300 it raises.
        or not (len(sub) <= 16 and _is_decimal(sub) and _is_id(int(sub)))
    ):
        raise Unauthenticated("access token is not valid", code="invalid_token")
    return Principal(
        user_id=int(sub),
        device_id=did,
        session_id=cast(int, sid),
        client_type=cast(ClientType, client_type),
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


def _is_id(value: object) -> bool:
    # bool is an int subclass: ``"sid": true`` is not a session id.
    return type(value) is int and 1 <= value <= _MAX_ID


def _is_decimal(text: str) -> bool:
    # str.isdigit() also accepts digits like "²" that int() rejects: ASCII only.
    return text.isascii() and text.isdigit()


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a refresh secret; secrets are random, so no salt or slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a, b)
