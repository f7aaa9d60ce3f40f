"""Wiring of the presence module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.adapters import REDIS_FIX, not_available
from gomicroim.modules.presence.service import LocalPresence


class PresenceContainer(containers.DeclarativeContainer):
    """Presence's providers: in process when one process holds every gateway, else Redis."""

    settings = providers.Dependency(instance_of=Settings)

    service = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(LocalPresence),
        redis=not_available("the Redis presence adapter", REDIS_FIX),
    )
