"""Pure identity rules: access tokens and the refresh-token format."""

from __future__ import annotations

import base64
import json

import jwt
import msgspec
import pytest

from gomicroim.clock import now_ms
from gomicroim.errors import Unauthenticated
from gomicroim.modules.identity.contract import Principal
from gomicroim.modules.identity.domain import (
    RefreshToken,
    hash_secret,
    normalize_username,
    same_hash,
)
from gomicroim.modules.identity.tokens import AccessTokens

SECRET = "s3cret-for-tests-only-0123456789abcdef"
TTL = 60_000
WHO = Principal(user_id=42, device_id="phone-1", session_id=7, client_type="app")


@pytest.fixture
def tokens() -> AccessTokens:
    return AccessTokens(SECRET, TTL)


def code_of(call: object) -> str:
    with pytest.raises(Unauthenticated) as err:
        call()  # type: ignore[operator]
    return err.value.code


def forge(claims: dict[str, object], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def valid_claims(**changes: object) -> dict[str, object]:
    now = now_ms() // 1000
    claims: dict[str, object] = {
        "sub": "42",
        "did": "phone-1",
        "sid": 7,
        "ct": "app",
        "iat": now,
        "exp": now + 60,
        "typ": "access",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_an_issued_token_verifies_to_its_principal(tokens: AccessTokens) -> None:
    now = now_ms()
    token, expires_at = tokens.issue(WHO, now)

    assert expires_at == now + TTL
    # The claim holds whole seconds: the principal says when the token really stops working.
    assert tokens.verify(token) == msgspec.structs.replace(
        WHO, expires_at=expires_at // 1000 * 1000
    )


@pytest.mark.parametrize("client_type", ["app", "web", "desktop"])
def test_every_client_type_round_trips(tokens: AccessTokens, client_type: str) -> None:
    who = Principal(user_id=2**53 - 1, device_id="d", session_id=1, client_type=client_type)  # type: ignore[arg-type]
    token, expires_at = tokens.issue(who, now_ms())

    assert tokens.verify(token) == msgspec.structs.replace(
        who, expires_at=expires_at // 1000 * 1000
    )


def test_an_expired_token_is_refused_as_expired(tokens: AccessTokens) -> None:
    token, _ = tokens.issue(WHO, now_ms() - 2 * TTL)

    assert code_of(lambda: tokens.verify(token)) == "token_expired"


def test_a_token_signed_with_another_secret_is_invalid(tokens: AccessTokens) -> None:
    other, _ = AccessTokens("another-secret-of-enough-length-000", TTL).issue(WHO, now_ms())

    assert code_of(lambda: tokens.verify(other)) == "invalid_token"


def test_a_tampered_token_is_invalid(tokens: AccessTokens) -> None:
    token, _ = tokens.issue(WHO, now_ms())
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "1"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    assert code_of(lambda: tokens.verify(f"{header}.{forged}.{signature}")) == "invalid_token"


def test_an_unsigned_token_is_invalid(tokens: AccessTokens) -> None:
    unsigned = jwt.encode(valid_claims(), key=None, algorithm="none")  # type: ignore[arg-type]

    assert code_of(lambda: tokens.verify(unsigned)) == "invalid_token"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "..."])
def test_garbage_is_invalid(tokens: AccessTokens, garbage: str) -> None:
    assert code_of(lambda: tokens.verify(garbage)) == "invalid_token"


@pytest.mark.parametrize(
    "changes",
    [
        {"typ": "refresh"},
        {"typ": None},
        {"ct": "tv"},
        {"ct": None},
        {"sid": "7"},
        {"sid": None},
        {"did": 5},
        {"did": None},
        {"sub": "alice"},
        {"sub": "-1"},
        {"sub": None},
        {"exp": None},
    ],
    ids=repr,
)
def test_correctly_signed_tokens_of_the_wrong_shape_are_invalid(
    tokens: AccessTokens, changes: dict[str, object]
) -> None:
    assert code_of(lambda: tokens.verify(forge(valid_claims(**changes)))) == "invalid_token"


def test_the_refresh_token_is_session_dot_secret() -> None:
    assert RefreshToken.format(12, "abc") == "12.abc"
    assert RefreshToken.parse("12.abc") == (12, hash_secret("abc"))
    # Only the first dot separates; the secret may contain more.
    assert RefreshToken.parse("12.a.b") == (12, hash_secret("a.b"))


def test_new_secrets_are_random_url_safe_and_come_with_their_hash() -> None:
    secrets = {RefreshToken.new_secret() for _ in range(20)}

    assert len(secrets) == 20
    for secret, digest in secrets:
        assert len(secret) >= 40
        assert secret.replace("-", "").replace("_", "").isalnum()
        assert digest == hash_secret(secret)
        assert len(digest) == 64
        token = RefreshToken.format(5, secret)
        assert RefreshToken.parse(token) == (5, digest)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "12",
        "12.",
        ".abc",
        "x1.abc",
        "-1.abc",
        "1 .abc",
        "1234567890123456789.abc",  # longer than any session id
        "\u00b2.abc",  # superscript two: str.isdigit() is True for it, int() refuses it
        "\u07c1.abc",  # NKo digit one: int() reads it as 1; not a token we issue
    ],
)
def test_malformed_refresh_tokens_are_invalid(token: str) -> None:
    assert code_of(lambda: RefreshToken.parse(token)) == "invalid_refresh_token"


def test_hashes_compare_by_value() -> None:
    assert same_hash(hash_secret("a"), hash_secret("a"))
    assert not same_hash(hash_secret("a"), hash_secret("b"))


def test_usernames_compare_case_insensitively() -> None:
    assert normalize_username("Alice.B_1") == "alice.b_1"
