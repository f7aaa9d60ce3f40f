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
from gomicroim.http.abuse import AbuseLimits
from gomicroim.modules.identity.contract import IdentityFacade, Principal, bearer_token

#: Handlers opt out of authentication with ``exclude_from_auth=True``; these paths always do.
PUBLIC_PATHS = ["^/schema"]


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts the caller's :class:`Principal` in ``request.user``: 401 without one, 429 too fast."""

    def __init__(self, app: ASGIApp, identity: IdentityFacade, limits: AbuseLimits):
        super().__init__(app, exclude=PUBLIC_PATHS, scopes={ScopeType.HTTP})
        self._identity = identity
        self._limits = limits

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
        await self._limits.request(principal.user_id)
        return AuthenticationResult(user=principal, auth=token)


def caller(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller of a handler that is not excluded from auth."""
    return cast(Principal, request.user)


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The client's address: a trusted proxy's ``X-Forwarded-For`` one, else the peer's.

    uvicorn rewrites the peer address only for peers in ``server.forwarded_allow_ips``.
    """
    client = request.client
    return client.host if client is not None else "unknown"
