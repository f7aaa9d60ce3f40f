"""Wiring of the timeline module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.adapters import not_available
from gomicroim.infra.database import TortoiseApp
from gomicroim.modules.timeline import storage
from gomicroim.modules.timeline.http import SyncController
from gomicroim.modules.timeline.service import TimelineService
from gomicroim.modules.timeline.storage import SqlTimelineStore


class TimelineContainer(containers.DeclarativeContainer):
    """Timeline's providers; ``timeline.backend`` picks where the inboxes are stored."""

    settings = providers.Dependency(instance_of=Settings)

    tortoise_app = providers.Selector(
        settings.provided.timeline.backend,
        sql=providers.Object(TortoiseApp("timeline", storage.__name__)),
        mongo=providers.Object(None),
    )
    store = providers.Selector(
        settings.provided.timeline.backend,
        sql=providers.Singleton(SqlTimelineStore),
        mongo=not_available(
            "the MongoDB timeline store", 'until it is, set timeline.backend = "sql"'
        ),
    )
    service = providers.Singleton(
        TimelineService,
        store=store,
        retention_days=settings.provided.timeline.retention_days,
        prune_interval_s=settings.provided.timeline.prune_interval_s,
        max_sync_page=settings.provided.timeline.max_sync_page,
        default_sync_page=settings.provided.timeline.default_sync_page,
    )
    controllers = providers.Object([SyncController])
