"""ASGI middleware that counts, times and logs every HTTP request."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gomicroim.infra.metrics import Metrics

log = logging.getLogger("gomicroim.access")


def observability_middleware(metrics: Metrics, *, access_log: bool) -> Any:
    """A middleware factory recording ``metrics`` and, when enabled, one access-log line."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            method = scope["method"]
            started = time.perf_counter()
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("path_template") or "unmatched"
                metrics.http_requests.labels(method, route, str(status)).inc()
                metrics.http_latency.labels(route).observe(elapsed)
                if access_log:
                    state = scope.get("state") or {}
                    log.info(
                        "request",
                        extra={
                            "method": method,
                            "path": scope["path"],
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "user_id": state.get("user_id"),
                        },
                    )

        return middleware

    return factory
