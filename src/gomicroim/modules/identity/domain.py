"""Pure identity rules: usernames, access-token claims and the refresh-token format. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import cast

from gomicroim.errors import InvalidInput, Unauthenticated
from gomicroim.modules.identity.contract import ClientType, Principal

_CLIENT_TYPES = ("app", "web", "desktop")
#: ``typ`` of an access token; refresh tokens are opaque and never JWTs, but a token minted for
#: another purpose with the same key must not pass as an access token.
ACCESS_TYPE = "access"
#: Ids are below 2^53 (safe in JavaScript); larger ``sub``/``sid`` claims are invalid tokens.
_MAX_ID = 2**53 - 1


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


def principal_from_claims(claims: dict[str, object]) -> Principal:
    """The caller an access token's verified claims name.

    Raises:
        Unauthenticated: ``invalid_token`` when a claim is missing or not of its form.
    """
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
