"""Wiring of the identity module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.caching import CacheStats
from gomicroim.config import Settings
from gomicroim.infra.adapters import shared_broadcast
from gomicroim.infra.database import TortoiseApp
from gomicroim.infra.redis import RedisEngine
from gomicroim.modules.identity import storage
from gomicroim.modules.identity.admin import IdentityAdminService
from gomicroim.modules.identity.blocks import BlocksService
from gomicroim.modules.identity.blocks_http import BlockController
from gomicroim.modules.identity.contract import SessionEnded
from gomicroim.modules.identity.ending import SessionEnding
from gomicroim.modules.identity.http import AuthController, UserController
from gomicroim.modules.identity.passwords import Argon2Hasher
from gomicroim.modules.identity.ports import BlocksChanged, DevicesChanged
from gomicroim.modules.identity.revocation_poll import RevocationPoller
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import (
    MemoryRevocationList,
    RedisRevocationList,
    SqlBlockStore,
    SqlInviteStore,
    SqlSessionStore,
    SqlUserStore,
)
from gomicroim.modules.identity.tokens import AccessTokens


class IdentityContainer(containers.DeclarativeContainer):
    """Identity's providers; the root container supplies settings and the signing secret."""

    settings = providers.Dependency(instance_of=Settings)
    jwt_secret = providers.Dependency(instance_of=str)
    redis: providers.Dependency[RedisEngine] = providers.Dependency()
    metrics: providers.Dependency[CacheStats] = providers.Dependency()

    tortoise_app = providers.Object(TortoiseApp("identity", storage.__name__))
    users = providers.Singleton(SqlUserStore)
    sessions = providers.Singleton(SqlSessionStore)
    # Every process that checks tokens must see every revocation: one process alone can keep
    # them in memory, several share them in Redis.
    revocations = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(MemoryRevocationList),
        redis=providers.Singleton(RedisRevocationList, redis),
    )
    # A login on any process must reach every process's cached device lists.
    device_events = shared_broadcast(settings, redis, "identity.devices", DevicesChanged)
    # Ended sessions must reach every process holding sockets: a local broadcast when this
    # process holds them all, Redis pub/sub in a cluster. The gateway subscribes to it.
    session_events = shared_broadcast(settings, redis, "session_ended", SessionEnded)
    hasher = providers.Singleton(
        Argon2Hasher,
        time_cost=settings.provided.identity.password_time_cost,
        memory_kib=settings.provided.identity.password_memory_kib,
        max_concurrent=settings.provided.identity.max_concurrent_hashes,
        max_waiting=settings.provided.identity.max_waiting_hashes,
    )
    tokens = providers.Singleton(
        AccessTokens,
        secret=jwt_secret,
        ttl_ms=providers.Callable(lambda s: s.identity.access_ttl_s * 1000, settings),
        issuer=settings.provided.identity.token_issuer,
        audience=settings.provided.identity.token_audience,
        cache_stats=metrics,
    )
    service = providers.Singleton(
        IdentityService,
        users=users,
        sessions=sessions,
        revocations=revocations,
        hasher=hasher,
        tokens=tokens,
        refresh_ttl_ms=providers.Callable(lambda s: s.identity.refresh_ttl_s * 1000, settings),
        device_cache_ttl_s=settings.provided.identity.device_cache_ttl_s,
        min_password_chars=settings.provided.identity.min_password_chars,
        events=session_events,
        device_events=device_events,
        cache_stats=metrics,
        registration=settings.provided.auth.registration,
    )
    invites = providers.Singleton(SqlInviteStore)
    ending = providers.Singleton(
        SessionEnding,
        revocations=revocations,
        events=session_events,
        validity_ms=tokens.provided.max_validity_ms,
    )
    #: Operator commands (``gomicroim users|invites``): no role serves them over HTTP.
    admin = providers.Singleton(
        IdentityAdminService,
        users=users,
        sessions=sessions,
        invites=invites,
        hasher=hasher,
        ending=ending,
        min_password_chars=settings.provided.identity.min_password_chars,
    )
    # Sessions other processes end (an operator's command) reach this process's token checks
    # and sockets; with a shared revocation list it finds them known already.
    revocation_poller = providers.Singleton(
        RevocationPoller,
        sessions=sessions,
        revocations=revocations,
        ending=ending,
        interval_s=settings.provided.identity.revocation_poll_s,
    )
    blocks = providers.Singleton(SqlBlockStore)
    # A block or unblock on any process must reach every process's cached block lists.
    block_events = shared_broadcast(settings, redis, "identity.blocks", BlocksChanged)
    blocks_service = providers.Singleton(
        BlocksService,
        blocks=blocks,
        users=users,
        cache_ttl_s=settings.provided.identity.block_cache_ttl_s,
        events=block_events,
        cache_stats=metrics,
    )
    controllers = providers.Object([AuthController, UserController, BlockController])
