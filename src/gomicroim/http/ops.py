"""Liveness, readiness and Prometheus metrics endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency

from gomicroim.errors import Unavailable
from gomicroim.infra.metrics import Metrics

ReadinessCheck = Callable[[], Awaitable[None]]


class Health(msgspec.Struct):
    """Health answer; ``checks`` names each dependency and its state."""

    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


class OpsController(Controller):
    """Operational endpoints; no authentication, keep them off the public internet if needed."""

    path = "/"
    tags = ["operations"]
    opt = {"exclude_from_auth": True}
    include_in_schema = True

    @get("/healthz", summary="Liveness: the process answers")
    async def healthz(self) -> Health:
        """Always ok while the process serves requests."""
        return Health(status="ok")

    @get("/readyz", summary="Readiness: every dependency answers")
    async def readyz(
        self, readiness_checks: NamedDependency[dict[str, ReadinessCheck]]
    ) -> Response[Health]:
        """200 when every dependency answers, else 503 naming the failing ones."""
        checks: dict[str, str] = {}
        ready = True
        for name, check in readiness_checks.items():
            try:
                await check()
                checks[name] = "ok"
            except Unavailable as exc:
                checks[name] = exc.message
                ready = False
        return Response(
            Health(status="ready" if ready else "unavailable", checks=checks),
            status_code=200 if ready else 503,
        )

    @get("/metrics", media_type=MediaType.TEXT, summary="Prometheus text exposition")
    async def metrics(self, metrics: NamedDependency[Metrics]) -> Response[bytes]:
        """Counters and histograms in Prometheus text format."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")
