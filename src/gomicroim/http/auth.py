"""Bearer-token authentication and per-user rate limiting for HTTP handlers."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from gomicroim.errors import Unauthenticated
from gomicroim.http.ratelimit import RateLimiter
from gomicroim.modules.identity.contract import IdentityFacade, Principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_principal(
    request: Request[Any, Any, Any],
    identity: NamedDependency[IdentityFacade],
    rate_limiter: NamedDependency[RateLimiter],
) -> Principal:
    """Litestar dependency: the authenticated caller, or 401; 429 past the caller's rate."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthenticated(
            "missing access token; send 'Authorization: Bearer <access_token>'",
            code="missing_token",
        )
    principal = await identity.authenticate(token)
    rate_limiter.check(principal.user_id)
    request.state.user_id = principal.user_id
    return principal
