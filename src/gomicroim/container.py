"""Root container: the one place that decides which adapter serves which port."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.http.ratelimit import RateLimiter
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.chat.container import ChatContainer
from gomicroim.modules.groups.container import GroupsContainer
from gomicroim.modules.identity.container import IdentityContainer
from gomicroim.modules.identity.storage import MemoryRevocationList


class Container(containers.DeclarativeContainer):
    """Connects the module containers; built once per app by :func:`gomicroim.app.create_app`."""

    settings = providers.Dependency(instance_of=Settings)
    jwt_secret = providers.Dependency(instance_of=str)

    metrics = providers.Singleton(Metrics)
    # Embedded: one process checks every token and rate, so process memory is the truth.
    revocations = providers.Singleton(MemoryRevocationList)
    rate_limiter = providers.Singleton(
        RateLimiter,
        rate=settings.provided.limits.requests_per_second,
        burst=settings.provided.limits.burst,
    )

    identity = providers.Container(
        IdentityContainer, settings=settings, jwt_secret=jwt_secret, revocations=revocations
    )
    groups = providers.Container(GroupsContainer, settings=settings, identity=identity.service)
    chat = providers.Container(
        ChatContainer, settings=settings, identity=identity.service, groups=groups.service
    )
