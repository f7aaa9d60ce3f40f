"""Wiring of the groups module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.caching import CacheStats
from gomicroim.config import Settings
from gomicroim.infra.adapters import shared_broadcast
from gomicroim.infra.database import TortoiseApp
from gomicroim.infra.redis import RedisEngine
from gomicroim.modules.groups import storage
from gomicroim.modules.groups.http import GroupController
from gomicroim.modules.groups.ports import MembersChanged
from gomicroim.modules.groups.service import GroupsService
from gomicroim.modules.groups.storage import SqlGroupStore
from gomicroim.modules.identity.contract import IdentityFacade


class GroupsContainer(containers.DeclarativeContainer):
    """Groups' providers; needs settings and identity's user directory."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    redis: providers.Dependency[RedisEngine] = providers.Dependency()
    metrics: providers.Dependency[CacheStats] = providers.Dependency()

    tortoise_app = providers.Object(TortoiseApp("groups", storage.__name__))
    store = providers.Singleton(SqlGroupStore)
    # A membership change on any process must reach every process's cached member sets.
    member_events = shared_broadcast(settings, redis, "groups.members", MembersChanged)
    service = providers.Singleton(
        GroupsService,
        store=store,
        users=identity,
        max_members=settings.provided.groups.max_members,
        max_name_chars=settings.provided.groups.max_name_chars,
        max_notice_chars=settings.provided.groups.max_notice_chars,
        max_avatar_url_chars=settings.provided.groups.max_avatar_url_chars,
        members_page_limit=settings.provided.groups.members_page_limit,
        member_cache_ttl_s=settings.provided.groups.member_cache_ttl_s,
        member_events=member_events,
        cache_stats=metrics,
    )
    controllers = providers.Object([GroupController])
