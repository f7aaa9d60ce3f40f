"""HTTP route of the timeline module: ``GET /api/v1/sync`` for app clients."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from gomicroim.http.auth import caller
from gomicroim.http.openapi import documented
from gomicroim.modules.timeline.contract import SyncPage, TimelineFacade


class SyncController(Controller):
    """Offline sync: the caller's own timeline after a user seq."""

    path = "/api/v1/sync"
    tags = ["sync"]

    @get(
        "/",
        summary="The caller's timeline entries after a user seq, oldest first",
        description=(
            "Entries with user_seq > after in ascending order, at most limit of them (default"
            " timeline.default_sync_page, at most timeline.max_sync_page). Keep calling with the"
            " last user_seq received while has_more is true; latest_seq is the highest user seq"
            " handed out to the caller."
        ),
        **documented(),
    )
    async def sync(
        self,
        request: Request[Any, Any, Any],
        timeline: NamedDependency[TimelineFacade],
        after: int = Parameter(
            ge=0, le=2**53 - 1, default=0, description="The last user seq the client holds"
        ),
        # No static maximum here: the bound is timeline.max_sync_page, enforced (400) and
        # described by the service, so the schema cannot promise more than the server allows.
        limit: int | None = Parameter(
            ge=1,
            required=False,
            description="Entries per page: 1 to timeline.max_sync_page (200 by default; 400"
            " invalid_field above it), default timeline.default_sync_page (100)",
        ),
    ) -> SyncPage:
        return await timeline.sync(caller(request).user_id, after, limit)
