"""Wiring of the presence module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.adapters import shared_broadcast
from gomicroim.infra.redis import RedisEngine
from gomicroim.modules.chat.contract import ChatFacade
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.presence.contract import ConnectionDisplaced, PresenceChanged
from gomicroim.modules.presence.http import PresenceController
from gomicroim.modules.presence.service import PresenceService
from gomicroim.modules.presence.storage import MemoryPresenceStore, RedisPresenceStore
from gomicroim.modules.presence.view import PresenceView, SharedConversations


class PresenceContainer(containers.DeclarativeContainer):
    """Presence's providers: in process when one process holds every gateway, else Redis.

    The view (who may see whose presence) needs chat's single conversations and groups'
    memberships; the registry itself needs neither.
    """

    settings = providers.Dependency(instance_of=Settings)
    redis: providers.Dependency[RedisEngine] = providers.Dependency()
    chat: providers.Dependency[ChatFacade] = providers.Dependency()
    groups: providers.Dependency[GroupsFacade] = providers.Dependency()

    store = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(MemoryPresenceStore),
        redis=providers.Singleton(RedisPresenceStore, redis),
    )
    # Carries "this device connected again elsewhere" to the node holding the old socket.
    events = shared_broadcast(settings, redis, "presence.displaced", ConnectionDisplaced)
    # Online/offline changes, heard by every process's gateway (``presence`` frames).
    changes = shared_broadcast(settings, redis, "presence.changes", PresenceChanged)
    service = providers.Singleton(
        PresenceService,
        store=store,
        events=events,
        lease_ms=providers.Callable(lambda s: int(s.redis.presence_lease_s * 1000), settings),
        changes=changes,
    )
    contacts = providers.Singleton(SharedConversations, chat=chat, groups=groups)
    view = providers.Singleton(PresenceView, presence=service, contacts=contacts)
    controllers = providers.Object([PresenceController])
