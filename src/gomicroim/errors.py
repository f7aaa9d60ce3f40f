"""The error vocabulary every module raises and the HTTP edge turns into one JSON shape."""

from __future__ import annotations


class AppError(Exception):
    """A failure a client can act on: a stable ``code``, a human ``message``, an HTTP status."""

    status = 400
    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class InvalidInput(AppError):
    """The request is well-formed JSON but a value is not allowed."""


class Unauthenticated(AppError):
    """No valid credentials: missing, expired, revoked or forged token, or a wrong password."""

    status = 401
    default_code = "unauthenticated"


class Forbidden(AppError):
    """The caller is known but may not touch this resource."""

    status = 403
    default_code = "forbidden"


class NotFound(AppError):
    """The addressed user, group or conversation does not exist."""

    status = 404
    default_code = "not_found"


class Conflict(AppError):
    """The request clashes with current state (a taken username, a full group)."""

    status = 409
    default_code = "conflict"


class TooLarge(AppError):
    """A body or field is over its configured size."""

    status = 413
    default_code = "too_large"


class RateLimited(AppError):
    """The caller sends faster than ``limits.requests_per_second`` allows."""

    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float = 1.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(AppError):
    """A dependency (database, Redis, Kafka) is down; retry later.

    ``detail`` names the engine and its error for the log; it never reaches the client.
    """

    status = 503
    default_code = "unavailable"
    retry_after_s = 2.0
    detail = ""
