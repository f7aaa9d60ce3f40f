"""Wiring of the identity module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.modules.identity.domain import AccessTokens
from gomicroim.modules.identity.http import AuthController, UserController
from gomicroim.modules.identity.passwords import Argon2Hasher
from gomicroim.modules.identity.ports import RevocationList
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.identity.storage import SqlSessionStore, SqlUserStore


class IdentityContainer(containers.DeclarativeContainer):
    """Identity's providers; the root container supplies settings, secret and revocation list."""

    settings = providers.Dependency(instance_of=Settings)
    jwt_secret = providers.Dependency(instance_of=str)
    revocations: providers.Dependency[RevocationList] = providers.Dependency()

    users = providers.Singleton(SqlUserStore)
    sessions = providers.Singleton(SqlSessionStore)
    hasher = providers.Singleton(
        Argon2Hasher,
        time_cost=settings.provided.identity.password_time_cost,
        memory_kib=settings.provided.identity.password_memory_kib,
    )
    tokens = providers.Singleton(
        AccessTokens,
        secret=jwt_secret,
        ttl_ms=providers.Callable(lambda s: s.identity.access_ttl_s * 1000, settings),
        issuer=settings.provided.identity.token_issuer,
        audience=settings.provided.identity.token_audience,
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
    )
    controllers = providers.Object([AuthController, UserController])
