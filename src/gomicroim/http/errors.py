"""One JSON error shape for every failure: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from gomicroim.errors import AppError, RateLimited, Unavailable
from gomicroim.infra.database import database_outage

log = logging.getLogger("gomicroim.http")


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The ``error`` member of every error response."""

    code: str
    message: str
    field: str | None = None


class ErrorResponse(msgspec.Struct):
    """Every non-2xx response body."""

    error: ErrorBody


#: Litestar's own statuses mapped to our stable codes.
_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """Encode the error shape."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message, field=field))
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


#: Each turns one engine's connection-class error into :class:`Unavailable` (else None).
#: The database's is here; Redis and Kafka adapters add theirs to this tuple.
ENGINE_OUTAGES: tuple[Callable[[BaseException], Unavailable | None], ...] = (database_outage,)

#: Methods an ``Allow`` header may name (the router also knows ``websocket`` and ``asgi``).
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def app_error_handler(request: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    """Map a domain error to its status and code."""
    headers = None
    if isinstance(exc, RateLimited | Unavailable):
        # Rounded up: a client that waits as told must not be refused again.
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    if isinstance(exc, Unavailable) and exc.detail:
        log.warning(
            "dependency unavailable",
            extra={"path": request.url.path, "cause": exc.detail},
        )
    return error_response(exc.status, exc.code, exc.message, exc.field, headers)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Map Litestar's routing, size and parameter errors into the same shape."""
    status = exc.status_code
    if status >= 500:
        log.error("server error", exc_info=exc)
    field = None
    message = exc.detail
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict):
            field = first.get("key")
            message = f"{field}: {first.get('message')}" if field else str(first.get("message"))
    elif isinstance(exc, NotFoundException):
        message = "no such endpoint"
    elif status == 413:
        message = "request body is larger than server.max_request_bytes"
    headers = None
    if isinstance(exc, MethodNotAllowedException):
        allowed = [
            m for m in (exc.headers or {}).get("allow", "").split(", ") if m in _HTTP_METHODS
        ]
        headers = {"Allow": ", ".join(sorted(allowed))}
        message = f"method not allowed here; allowed: {headers['Allow'] or 'none (WebSocket)'}"
    code = "invalid_field" if field else _HTTP_CODES.get(status, "http_error")
    return error_response(status, code, message, field, headers)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Answer 503 for an engine outage; otherwise log the bug and answer 500, leaking nothing."""
    for outage in ENGINE_OUTAGES:
        if (unavailable := outage(exc)) is not None:
            return app_error_handler(request, unavailable)
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error; it was logged"
    )


EXCEPTION_HANDLERS: Any = {
    AppError: app_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
