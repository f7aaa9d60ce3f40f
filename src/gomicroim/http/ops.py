"""Liveness, readiness and Prometheus metrics endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from gomicroim.errors import Unavailable
from gomicroim.infra.metrics import Metrics

ReadinessCheck = Callable[[], Awaitable[None]]

#: A dependency that takes longer than this to answer a trivial query counts as down.
READINESS_TIMEOUT_S = 3.0


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

    @get(
        "/readyz",
        summary="Readiness: every dependency answers",
        responses={
            503: ResponseSpec(Health, description="A dependency is down; `checks` names it")
        },
    )
    async def readyz(
        self, readiness_checks: NamedDependency[dict[str, ReadinessCheck]]
    ) -> Response[Health]:
        """200 when every dependency answers, else 503 naming the failing ones."""
        checks: dict[str, str] = {}
        ready = True
        for name, check in readiness_checks.items():
            try:
                await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
                checks[name] = "ok"
            except Unavailable as exc:
                checks[name] = exc.message
                ready = False
            except TimeoutError:
                checks[name] = f"{name} did not answer within {READINESS_TIMEOUT_S:g} s"
                ready = False
        return Response(
            Health(status="ready" if ready else "unavailable", checks=checks),
            status_code=200 if ready else 503,
        )

    @get("/metrics", media_type=MediaType.TEXT, summary="Prometheus text exposition")
    async def metrics(self, metrics: NamedDependency[Metrics]) -> Response[bytes]:
        """Counters and histograms in Prometheus text format."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")
