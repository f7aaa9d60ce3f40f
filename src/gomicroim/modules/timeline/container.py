"""Wiring of the timeline module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.database import TortoiseApp
from gomicroim.modules.timeline.http import SyncController
from gomicroim.modules.timeline.ports import TimelineStore
from gomicroim.modules.timeline.service import TimelineService
from gomicroim.modules.timeline.storage import sql
from gomicroim.modules.timeline.storage.sql import SqlTimelineStore

if TYPE_CHECKING:
    from gomicroim.infra.mongo import MongoEngine, MongoModels


# The MongoDB adapter is imported only when config selects it, so the embedded shape never
# loads pymongo and beanie.


def _mongo_store(engine: MongoEngine) -> TimelineStore:
    from gomicroim.modules.timeline.storage.mongo import MongoTimelineStore, PymongoCollections

    return MongoTimelineStore(collections=PymongoCollections(engine))


def _mongo_models(retention_days: float) -> MongoModels:
    from gomicroim.modules.timeline.storage.mongo import timeline_models

    return timeline_models(retention_days)


class TimelineContainer(containers.DeclarativeContainer):
    """Timeline's providers; ``timeline.backend`` picks where the inboxes are stored."""

    settings = providers.Dependency(instance_of=Settings)
    #: The MongoDB engine, used only when ``timeline.backend = "mongo"``.
    mongo: providers.Dependency[MongoEngine] = providers.Dependency()

    tortoise_app = providers.Selector(
        settings.provided.timeline.backend,
        sql=providers.Object(TortoiseApp("timeline", sql.__name__)),
        mongo=providers.Object(None),
    )
    #: The collections and indexes the engine sets up at start (None: not on MongoDB).
    mongo_models = providers.Selector(
        settings.provided.timeline.backend,
        sql=providers.Object(None),
        mongo=providers.Singleton(_mongo_models, settings.provided.timeline.retention_days),
    )
    store = providers.Selector(
        settings.provided.timeline.backend,
        sql=providers.Singleton(
            SqlTimelineStore, durable=settings.provided.timeline.sync_each_append
        ),
        mongo=providers.Singleton(_mongo_store, mongo),
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
