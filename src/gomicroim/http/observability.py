"""The outermost HTTP layer: records every response as sent and adds the security headers.

It wraps Litestar's whole ASGI handler, not one route's middleware stack, because statuses are
decided in three places: the handler, the authentication middleware (401, 429: its exceptions
become responses only in Litestar's outermost exception handler) and the router (404, 405).
Only a layer outside all of them sees the status that actually went to the client.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gomicroim.infra.logging import redact_query
from gomicroim.infra.metrics import Metrics

log = logging.getLogger("gomicroim.access")

#: On every HTTP response: no MIME sniffing, no Referer leaking URLs, no framing.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
#: API answers carry tokens and user data: no cache (browser, proxy) may keep them.
_NO_STORE = (b"cache-control", b"no-store")
#: Prefixes whose answers are public and may be cached (the OpenAPI document and its viewer).
_CACHEABLE = ("/schema",)


def add_edge_layer(app: Litestar, metrics: Metrics, *, access_log: bool) -> None:
    """Wrap ``app``'s ASGI handler so every HTTP response is recorded and hardened."""
    allowed: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            allowed.setdefault(route.path_format, set()).update(route.methods)
    app.asgi_handler = edge_layer(
        app.asgi_handler,
        metrics,
        access_log=access_log,
        allow={path: ", ".join(sorted(methods)).encode() for path, methods in allowed.items()},
    )


def edge_layer(
    inner: ASGIApp, metrics: Metrics, *, access_log: bool, allow: dict[str, bytes] | None = None
) -> ASGIApp:
    """The ASGI app that records ``metrics`` and one access-log line per HTTP request.

    ``allow`` maps a route template to its methods for ``OPTIONS`` answers: Litestar's own
    OPTIONS handler can list only the methods registered first on a path (2.25: a route
    rebuilt for a later handler keeps the old handler's method list).
    """
    allow = allow or {}

    async def edge(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await inner(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        cacheable = scope["path"].startswith(_CACHEABLE)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if scope["method"] == "OPTIONS" and b"allow" in names:
                    methods = allow.get(scope.get("path_template") or "")
                    if methods is not None:
                        headers = [h for h in headers if h[0].lower() != b"allow"]
                        headers.append((b"allow", methods))
                if not cacheable and b"cache-control" not in names:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await inner(scope, receive, send_wrapper)
        finally:
            _record(scope, status, time.perf_counter() - started, metrics, access_log)

    return edge


def _record(scope: Any, status: int, elapsed: float, metrics: Metrics, access_log: bool) -> None:
    # status 0: the client went away (or the app failed) before any response started.
    route = scope.get("path_template") or "unmatched"
    method = scope["method"]
    metrics.http_requests.labels(method, route, str(status)).inc()
    metrics.http_latency.labels(route).observe(elapsed)
    if access_log:
        state = scope.get("state") or {}
        extra = {
            "method": method,
            "path": scope["path"],
            "status": status,
            "ms": round(elapsed * 1000, 2),
            "user_id": state.get("user_id"),
        }
        if scope.get("query_string"):
            extra["query"] = redact_query(scope["query_string"].decode("latin-1"))
        log.info("request", extra=extra)
