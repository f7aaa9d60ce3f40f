"""Access tokens: signing, verification, and the cache that spares repeated signature checks."""

from __future__ import annotations

import time

import jwt

from gomicroim.caching import Cache, CacheStats
from gomicroim.errors import Unauthenticated
from gomicroim.modules.identity.contract import Principal
from gomicroim.modules.identity.domain import ACCESS_TYPE, principal_from_claims

_ALGORITHM = "HS256"
_CLOCK_SKEW_S = 10
#: Verified tokens remembered (an LRU): about one per active device.
VERIFIED_CACHED = 100_000
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "sid", "did", "typ"]


class AccessTokens:
    """Issues and verifies signed, short-lived access tokens (JWT, HS256).

    A token carries ``iss`` (who signed it), ``aud`` (what it is for) and ``typ``; all three
    are checked, so a token signed with the same key for another service or purpose fails.
    """

    def __init__(
        self,
        secret: str,
        ttl_ms: int,
        *,
        issuer: str = "gomicroim",
        audience: str = "gomicroim",
        cache_stats: CacheStats | None = None,
    ):
        self._key = secret.encode()
        self._issuer = issuer
        self._audience = audience
        self.ttl_ms = ttl_ms
        #: How long after issue a token may still pass :meth:`verify` (lifetime + clock skew);
        #: an ended session must be remembered at least this long.
        self.max_validity_ms = ttl_ms + _CLOCK_SKEW_S * 1000
        # token -> (principal, exp in s): signature checks cost more than the rest of a request.
        self._verified: Cache[str, tuple[Principal, int]] = Cache(
            "identity_verified_tokens", max_size=VERIFIED_CACHED, stats=cache_stats
        )

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
            self._verified.invalidate(token)
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
        principal = principal_from_claims(claims)
        self._verified.put(token, (principal, int(claims["exp"])))
        return principal
