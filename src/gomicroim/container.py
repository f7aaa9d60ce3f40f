"""Root container: the one place that decides which adapter serves which port."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.fanout.container import FanoutContainer
from gomicroim.gateway.container import GatewayContainer
from gomicroim.http.ratelimit import RateLimiter
from gomicroim.infra.bus import InProcessTopic
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.chat.container import ChatContainer
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved
from gomicroim.modules.groups.container import GroupsContainer
from gomicroim.modules.identity.container import IdentityContainer
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.presence.container import PresenceContainer
from gomicroim.modules.timeline.container import TimelineContainer


class Container(containers.DeclarativeContainer):
    """Connects the module containers; built once per app by :func:`gomicroim.app.create_app`.

    Embedded shape: one process checks every token and rate, holds every connection and runs
    the bus in memory, so the in-process adapters are the truth here.
    """

    settings = providers.Dependency(instance_of=Settings)
    jwt_secret = providers.Dependency(instance_of=str)

    metrics = providers.Singleton(Metrics)
    revocations = providers.Singleton(MemoryRevocationList)
    rate_limiter = providers.Singleton(
        RateLimiter,
        rate=settings.provided.limits.requests_per_second,
        burst=settings.provided.limits.burst,
    )
    committed_topic: providers.Singleton[InProcessTopic[MessageCommitted]] = providers.Singleton(
        InProcessTopic, "committed"
    )
    read_topic: providers.Singleton[InProcessTopic[ReadPositionMoved]] = providers.Singleton(
        InProcessTopic, "read"
    )

    identity = providers.Container(
        IdentityContainer, settings=settings, jwt_secret=jwt_secret, revocations=revocations
    )
    groups = providers.Container(GroupsContainer, settings=settings, identity=identity.service)
    chat = providers.Container(
        ChatContainer,
        settings=settings,
        identity=identity.service,
        groups=groups.service,
        publisher=committed_topic,
        read_events=read_topic,
        metrics=metrics,
    )
    timeline = providers.Container(TimelineContainer, settings=settings)
    presence = providers.Container(PresenceContainer)
    gateway = providers.Container(
        GatewayContainer,
        settings=settings,
        identity=identity.service,
        presence=presence.service,
        timeline=timeline.service,
        metrics=metrics,
    )
    fanout = providers.Container(
        FanoutContainer,
        settings=settings,
        identity=identity.service,
        groups=groups.service,
        presence=presence.service,
        timeline=timeline.service,
        router=gateway.service,
        metrics=metrics,
    )
