"""Wiring of the timeline module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.modules.timeline.http import SyncController
from gomicroim.modules.timeline.service import TimelineService
from gomicroim.modules.timeline.storage import SqlTimelineStore


class TimelineContainer(containers.DeclarativeContainer):
    """Timeline's providers; needs only settings."""

    settings = providers.Dependency(instance_of=Settings)

    store = providers.Singleton(SqlTimelineStore)
    service = providers.Singleton(
        TimelineService,
        store=store,
        retention_days=settings.provided.timeline.retention_days,
        prune_interval_s=settings.provided.timeline.prune_interval_s,
        max_sync_page=settings.provided.timeline.max_sync_page,
        default_sync_page=settings.provided.timeline.default_sync_page,
    )
    controllers = providers.Object([SyncController])
