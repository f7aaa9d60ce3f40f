"""Pure identity rules: usernames, access-token claims and the refresh-token format. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import cast

from gomicroim.errors import Unauthenticated
from gomicroim.modules.identity.contract import ClientType, Principal

_CLIENT_TYPES = ("app", "web", "desktop")


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive; they are stored and compared in lower case."""
    return username.lower()


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
