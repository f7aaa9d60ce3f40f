"""Wiring of the fan-out worker and its strategies."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.fanout.ordering import history_reader
from gomicroim.fanout.selector import StrategySelector, build_strategies
from gomicroim.fanout.worker import FanoutWorker
from gomicroim.gateway.contract import PushRouter
from gomicroim.infra.bus import InProcessTopic
from gomicroim.infra.kafka.consumer import DeadLetters, KafkaEventSource
from gomicroim.infra.kafka.engine import KafkaEngine
from gomicroim.infra.kafka.wiring import read_group, retry_policy
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.chat.contract import ChatFacade, MessageCommitted, ReadPositionMoved
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.identity.contract import IdentityFacade
from gomicroim.modules.notifications.contract import OfflineNotifier
from gomicroim.modules.presence.contract import PresenceFacade
from gomicroim.modules.timeline.contract import TimelineFacade


class FanoutContainer(containers.DeclarativeContainer):
    """Strategies from config, the selector, the worker and the bus topics it consumes.

    The router comes from the gateway container, which selects it.
    """

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    groups: providers.Dependency[GroupsFacade] = providers.Dependency()
    chat: providers.Dependency[ChatFacade] = providers.Dependency()
    presence: providers.Dependency[PresenceFacade] = providers.Dependency()
    timeline: providers.Dependency[TimelineFacade] = providers.Dependency()
    router: providers.Dependency[PushRouter] = providers.Dependency()
    metrics: providers.Dependency[Metrics] = providers.Dependency()
    committed_topic: providers.Dependency[InProcessTopic[MessageCommitted]] = providers.Dependency()
    read_topic: providers.Dependency[InProcessTopic[ReadPositionMoved]] = providers.Dependency()
    kafka: providers.Dependency[KafkaEngine] = providers.Dependency()
    #: The offline-push hook, or None when the feature is off.
    offline: providers.Dependency[OfflineNotifier | None] = providers.Dependency()

    # The consuming side of the bus (in Kafka: consumer groups of the fan-out workers; the
    # read topic has a group of its own, so neither waits for the other's rebalances).
    policy = providers.Singleton(retry_policy, settings.provided.kafka)
    dead_letters = providers.Singleton(DeadLetters, kafka, policy, metrics)
    committed_source = providers.Selector(
        settings.provided.bus_backend,
        memory=committed_topic,
        kafka=providers.Singleton(
            KafkaEventSource,
            kafka,
            topic=kafka.provided.topology.committed,
            event_type=MessageCommitted,
            group_id=settings.provided.kafka.consumer_group,
            policy=policy,
            dead_letters=dead_letters,
            metrics=metrics,
        ),
    )
    read_source = providers.Selector(
        settings.provided.bus_backend,
        memory=read_topic,
        kafka=providers.Singleton(
            KafkaEventSource,
            kafka,
            topic=kafka.provided.topology.read,
            event_type=ReadPositionMoved,
            group_id=providers.Callable(read_group, settings.provided.kafka),
            policy=policy,
            dead_letters=dead_letters,
            metrics=metrics,
        ),
    )

    strategies = providers.Singleton(
        build_strategies, settings=settings.provided.fanout, timeline=timeline
    )
    selector = providers.Singleton(
        StrategySelector,
        strategies=strategies,
        client_strategies=settings.provided.fanout.client_strategies,
        write_max_group_size=settings.provided.fanout.write_max_group_size,
    )
    worker = providers.Singleton(
        FanoutWorker,
        identity=identity,
        groups=groups,
        presence=presence,
        selector=selector,
        router=router,
        metrics=metrics,
        read_after=providers.Callable(history_reader, chat),
        audience=chat,
        offline=offline,
    )
