"""Wiring of the presence module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.adapters import shared_broadcast
from gomicroim.infra.redis import RedisEngine
from gomicroim.modules.presence.contract import ConnectionDisplaced
from gomicroim.modules.presence.service import PresenceService
from gomicroim.modules.presence.storage import MemoryPresenceStore, RedisPresenceStore


class PresenceContainer(containers.DeclarativeContainer):
    """Presence's providers: in process when one process holds every gateway, else Redis."""

    settings = providers.Dependency(instance_of=Settings)
    redis: providers.Dependency[RedisEngine] = providers.Dependency()

    store = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(MemoryPresenceStore),
        redis=providers.Singleton(RedisPresenceStore, redis),
    )
    # Carries "this device connected again elsewhere" to the node holding the old socket.
    events = shared_broadcast(settings, redis, "presence.displaced", ConnectionDisplaced)
    service = providers.Singleton(
        PresenceService,
        store=store,
        events=events,
        lease_ms=providers.Callable(lambda s: int(s.redis.presence_lease_s * 1000), settings),
    )
