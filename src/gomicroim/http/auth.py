"""Bearer-token authentication and per-user rate limiting, as one middleware.

Doing this in a middleware rather than as a handler dependency keeps every handler at a single
injected dependency, which Litestar resolves without spawning a task group per request.
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from gomicroim.errors import Unauthenticated
from gomicroim.http.ratelimit import RateLimiter
from gomicroim.modules.identity.contract import IdentityFacade, Principal, bearer_token

#: Handlers opt out of authentication with ``exclude_from_auth=True``; these paths always do.
PUBLIC_PATHS = ["^/schema"]


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts the caller's :class:`Principal` in ``request.user``: 401 without one, 429 too fast."""

    def __init__(self, app: ASGIApp, identity: IdentityFacade, rate_limiter: RateLimiter):
        super().__init__(app, exclude=PUBLIC_PATHS, scopes={ScopeType.HTTP})
        self._identity = identity
        self._rate_limiter = rate_limiter

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Verify the bearer token and charge the caller's rate limit."""
        token = bearer_token(connection.headers.get("authorization"))
        if token is None:
            raise Unauthenticated(
                "missing access token; send 'Authorization: Bearer <access_token>'",
                code="missing_token",
            )
        principal = await self._identity.authenticate(token)
        # Before the limit check, so the access log names who was refused with 429.
        connection.state.user_id = principal.user_id
        self._rate_limiter.check(principal.user_id)
        return AuthenticationResult(user=principal, auth=token)


def caller(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller of a handler that is not excluded from auth."""
    return cast(Principal, request.user)
