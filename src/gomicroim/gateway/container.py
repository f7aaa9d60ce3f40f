"""Wiring of this node's WebSocket gateway."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.gateway.http import ws_endpoint
from gomicroim.gateway.presence import PresenceSubscriptions
from gomicroim.gateway.quota import MemoryConnectionQuota, RedisConnectionQuota
from gomicroim.gateway.service import Gateway
from gomicroim.gateway.typing import TypingRelay
from gomicroim.http.websocket_doc import websocket_upgrade_required
from gomicroim.infra.kafka.engine import KafkaEngine
from gomicroim.infra.kafka.push import KafkaPushRouter, PushPartitionConsumer
from gomicroim.infra.kafka.wiring import no_push_consumer
from gomicroim.infra.metrics import Metrics
from gomicroim.infra.redis import RedisEngine
from gomicroim.modules.chat.contract import MessageChangesFacade
from gomicroim.modules.identity.contract import IdentityFacade, SessionEvents
from gomicroim.modules.presence.contract import PresenceFacade, PresenceViewFacade
from gomicroim.modules.timeline.contract import TimelineFacade


class GatewayContainer(containers.DeclarativeContainer):
    """The gateway needs identity (tokens, ended sessions), presence and timeline (``hello``).

    It also selects the push router the fan-out worker hands its batches to.
    """

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    presence: providers.Dependency[PresenceFacade] = providers.Dependency()
    timeline: providers.Dependency[TimelineFacade] = providers.Dependency()
    session_events: providers.Dependency[SessionEvents] = providers.Dependency()
    kafka: providers.Dependency[KafkaEngine] = providers.Dependency()
    metrics: providers.Dependency[Metrics] = providers.Dependency()
    redis: providers.Dependency[RedisEngine] = providers.Dependency()
    conversations: providers.Dependency[MessageChangesFacade] = providers.Dependency()
    presence_view: providers.Dependency[PresenceViewFacade] = providers.Dependency()

    # In process when one node holds every socket; a cluster counts them in Redis, under
    # leases each node renews, so the caps hold across nodes.
    quota = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(
            MemoryConnectionQuota,
            per_user=settings.provided.gateway.max_connections_per_user,
            per_ip=settings.provided.gateway.max_connections_per_ip,
        ),
        redis=providers.Singleton(
            RedisConnectionQuota,
            redis.provided.client,
            key_prefix=redis.provided.prefix,
            per_user=settings.provided.gateway.max_connections_per_user,
            per_ip=settings.provided.gateway.max_connections_per_ip,
            lease_s=settings.provided.gateway.connection_lease_s,
        ),
    )
    service = providers.Singleton(
        Gateway,
        node_id=settings.provided.node_id,
        identity=identity,
        presence=presence,
        timeline=timeline,
        session_events=session_events,
        quota=quota,
        idle_timeout_s=settings.provided.gateway.idle_timeout_s,
        max_pending_bytes=settings.provided.gateway.max_pending_bytes,
        max_frames_per_second=settings.provided.gateway.max_frames_per_second,
        frame_burst=settings.provided.gateway.frame_burst,
        metrics=metrics,
    )
    # One process holding the gateway and an in-process bus delivers to its own sockets;
    # otherwise pushes go to each node's Kafka partition, which that node's gateway consumes.
    router = providers.Selector(
        settings.provided.push_route,
        local=service,
        kafka=providers.Singleton(KafkaPushRouter, kafka, metrics),
    )
    # The relay looks the router up per frame (``router.provider``): in one process the
    # router is this gateway, which is built with the relay.
    typing_relay = providers.Singleton(
        TypingRelay,
        conversations=conversations,
        presence=presence,
        router=router.provider,
        interval_s=settings.provided.chat.typing_interval_s,
    )
    presence_subscriptions = providers.Singleton(
        PresenceSubscriptions,
        view=presence_view,
        presence=presence,
        max_subscriptions=settings.provided.presence.max_subscriptions,
    )
    service.add_kwargs(typing=typing_relay, presence_subscriptions=presence_subscriptions)
    # On Kafka this node reads its own push partitions and delivers them to its sockets.
    push_consumer = providers.Selector(
        settings.provided.bus_backend,
        memory=providers.Object(no_push_consumer),
        kafka=providers.Singleton(
            PushPartitionConsumer,
            kafka,
            node_id=settings.provided.node_id,
            deliver=service,
            max_age_s=settings.provided.gateway.max_push_age_s,
            metrics=metrics,
        ),
    )
    #: The WebSocket, and a plain GET on its path that documents it and says how to upgrade.
    controllers = providers.Object([ws_endpoint, websocket_upgrade_required])
