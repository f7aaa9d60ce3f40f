"""HTTP route of the timeline module: ``GET /api/v1/sync`` for app clients."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from gomicroim.config import Settings
from gomicroim.errors import InvalidInput
from gomicroim.modules.identity.contract import Principal
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
    )
    async def sync(
        self,
        principal: NamedDependency[Principal],
        timeline: NamedDependency[TimelineFacade],
        settings: NamedDependency[Settings],
        after: int = Parameter(
            ge=0, le=2**53 - 1, default=0, description="The last user seq the client holds"
        ),
        limit: int | None = Parameter(ge=1, le=1000, required=False),
    ) -> SyncPage:
        page_max = settings.timeline.max_sync_page
        if limit is None:
            limit = min(settings.timeline.default_sync_page, page_max)
        elif limit > page_max:
            raise InvalidInput(
                f"limit must be between 1 and {page_max} (timeline.max_sync_page)",
                code="invalid_field",
                field="limit",
            )
        return await timeline.sync(principal.user_id, after, limit)
