"""One JSON error shape for every failure: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from gomicroim.errors import AppError, RateLimited

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


def app_error_handler(_: Request[Any, Any, Any], exc: AppError) -> Response[bytes]:
    """Map a domain error to its status and code."""
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, round(exc.retry_after_s)))}
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
    code = "invalid_field" if field else _HTTP_CODES.get(status, "http_error")
    return error_response(status, code, message, field)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Log the bug, answer 500 without leaking internals."""
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error; it was logged"
    )


EXCEPTION_HANDLERS: Any = {
    AppError: app_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
