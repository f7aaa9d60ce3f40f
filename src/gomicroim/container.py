"""Root container: connects the module containers, which pick their adapters from config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.fanout.container import FanoutContainer
from gomicroim.gateway.container import GatewayContainer
from gomicroim.http.abuse import AbuseLimits
from gomicroim.http.ratelimit import BoundedMemoryStorage, LimitsRateLimiter, redis_storage
from gomicroim.infra.bus import InProcessTopic
from gomicroim.infra.database import TortoiseApp, WriteProbe, open_database
from gomicroim.infra.engines import Engine
from gomicroim.infra.kafka.engine import KafkaEngine, open_kafka
from gomicroim.infra.kafka.topology import KafkaTopology
from gomicroim.infra.metrics import Metrics
from gomicroim.infra.redis import RedisEngine, open_redis
from gomicroim.modules.chat.container import ChatContainer
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved
from gomicroim.modules.chat.ports import ChatStore
from gomicroim.modules.groups.container import GroupsContainer
from gomicroim.modules.identity.container import IdentityContainer
from gomicroim.modules.identity.ports import PasswordHasher
from gomicroim.modules.notifications.container import NotificationsContainer
from gomicroim.modules.presence.container import PresenceContainer
from gomicroim.modules.timeline.container import TimelineContainer

if TYPE_CHECKING:
    from gomicroim.infra.mongo import MongoEngine, MongoModels


def _tortoise_apps(*apps: TortoiseApp | None) -> list[TortoiseApp]:
    # A module whose selected adapter is not SQL contributes None.
    return [app for app in apps if app is not None]


def _database_engine(
    tortoise_apps: list[TortoiseApp], resource: providers.Resource[Any], ready: WriteProbe
) -> Engine | None:
    # Readiness writes as well as reads: a full or read-only disk still answers SELECT 1.
    return Engine("database", resource, ready) if tortoise_apps else None


def _redis_engine(engine: RedisEngine, resource: providers.Resource[Any]) -> Engine:
    return Engine("redis", resource, engine.ping)


def _kafka_engine(engine: KafkaEngine, resource: providers.Resource[Any]) -> Engine:
    return Engine("kafka", resource, engine.ping)


def _engines(*engines: Engine | None) -> list[Engine]:
    # MongoDB is added by _with_mongo.
    return [engine for engine in engines if engine is not None]


def _mongo_models(*models: MongoModels | None) -> list[MongoModels]:
    # A module whose selected adapter is not MongoDB contributes None.
    return [m for m in models if m is not None]


def _mongo_engine(settings: Settings) -> MongoEngine:
    # Imported here so the embedded shape never loads pymongo and beanie.
    from gomicroim.infra.mongo import MongoEngine

    return MongoEngine(settings.mongo)


async def _open_mongo(engine: MongoEngine, models: list[MongoModels]) -> Any:
    from gomicroim.infra.mongo import open_mongo

    async for _ in open_mongo(engine, models):
        yield


def _with_mongo(
    engines: list[Engine],
    models: list[MongoModels],
    resource: providers.Resource[Any],
    engine: providers.Provider[MongoEngine],
) -> list[Engine]:
    if not models:
        return engines
    return [*engines, Engine("mongodb", resource, engine().ping)]


def _watch_queues(
    metrics: Metrics,
    hasher: PasswordHasher,
    store: ChatStore,
    *topics: InProcessTopic[Any],
) -> None:
    # Each bounded queue of the API role reads its depth into a gauge at every scrape.
    metrics.watch_password_hashes(lambda: hasher.pending)
    metrics.watch_send_queue(lambda: store.pending_sends)
    for topic in topics:
        metrics.watch_bus_topic(topic.name, lambda t=topic: t.queued)  # type: ignore[misc]


class Container(containers.DeclarativeContainer):
    """Connects the module containers; built once per process by :mod:`gomicroim.app`.

    Adapters are chosen inside the module containers (``providers.Selector`` on the settings);
    this container only passes what modules need from each other, the in-process bus topics
    and the engines. Which roles run is decided from ``server.roles`` by :mod:`gomicroim.roles`.
    """

    settings = providers.Dependency(instance_of=Settings)
    jwt_secret = providers.Dependency(instance_of=str)

    metrics = providers.Singleton(Metrics)
    #: The Redis client; built (and later opened) only when an adapter config selects uses it.
    redis = providers.Singleton(RedisEngine, settings.provided.redis)
    redis_resource = providers.Resource(open_redis, redis)
    # Counters in process for one process; in Redis when replicas must share them.
    rate_limit_storage = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(
            BoundedMemoryStorage, max_keys=settings.provided.limits.max_tracked_keys
        ),
        redis=providers.Singleton(redis_storage, redis),
    )
    rate_limiter = providers.Singleton(LimitsRateLimiter, rate_limit_storage)
    abuse_limits = providers.Singleton(
        AbuseLimits, limiter=rate_limiter, settings=settings.provided.limits
    )
    # The in-process bus: used by the modules' Selectors when no Kafka is configured.
    committed_topic: providers.Singleton[InProcessTopic[MessageCommitted]] = providers.Singleton(
        InProcessTopic, "committed"
    )
    read_topic: providers.Singleton[InProcessTopic[ReadPositionMoved]] = providers.Singleton(
        InProcessTopic, "read", lossy=True, on_drop=metrics.provided.bus_items_dropped
    )

    # The Kafka bus: built (without I/O) only when a module's Selector picks a Kafka adapter.
    kafka_topology = providers.Singleton(KafkaTopology.from_settings, settings.provided.kafka)
    kafka = providers.Singleton(
        KafkaEngine, settings=settings.provided.kafka, topology=kafka_topology
    )

    identity = providers.Container(
        IdentityContainer, settings=settings, jwt_secret=jwt_secret, redis=redis, metrics=metrics
    )
    groups = providers.Container(
        GroupsContainer, settings=settings, identity=identity.service, redis=redis, metrics=metrics
    )
    # Built (without I/O) only when a module's Selector picks a MongoDB adapter.
    mongo = providers.Singleton(_mongo_engine, settings)
    timeline = providers.Container(TimelineContainer, settings=settings, mongo=mongo)
    chat = providers.Container(
        ChatContainer,
        settings=settings,
        identity=identity.service,
        blocks=identity.blocks_service,
        groups=groups.service,
        committed_topic=committed_topic,
        read_topic=read_topic,
        kafka=kafka,
        metrics=metrics,
        relay_metrics=metrics,
        own_timeline=timeline.service,
    )
    presence = providers.Container(
        PresenceContainer,
        settings=settings,
        redis=redis,
        chat=chat.service,
        groups=groups.service,
    )
    gateway = providers.Container(
        GatewayContainer,
        settings=settings,
        identity=identity.service,
        presence=presence.service,
        timeline=timeline.service,
        kafka=kafka,
        session_events=identity.session_events,
        metrics=metrics,
        redis=redis,
        conversations=chat.changes,
        presence_view=presence.view,
    )
    notifications = providers.Container(
        NotificationsContainer,
        settings=settings,
        identity=identity.service,
        session_events=identity.session_events,
        metrics=metrics,
        # Who has the conversation muted (do not disturb): they get no offline push.
        mute_lookup=chat.settings_service,
    )
    fanout = providers.Container(
        FanoutContainer,
        settings=settings,
        identity=identity.service,
        groups=groups.service,
        chat=chat.service,
        presence=presence.service,
        timeline=timeline.service,
        router=gateway.router,
        committed_topic=committed_topic,
        read_topic=read_topic,
        kafka=kafka,
        metrics=metrics,
        offline=notifications.offline,
    )

    #: Registers the API role's queue gauges (hashing, sends, bus topics).
    watch_queues = providers.Callable(
        _watch_queues, metrics, identity.hasher, chat.store, committed_topic, read_topic
    )

    #: The tortoise apps of the modules whose selected store is SQL.
    tortoise_apps = providers.Callable(
        _tortoise_apps,
        identity.tortoise_app,
        groups.tortoise_app,
        chat.tortoise_app,
        timeline.tortoise_app,
        notifications.tortoise_app,
    )
    database = providers.Resource(open_database, settings=settings, apps=tortoise_apps)
    kafka_resource = providers.Resource(open_kafka, kafka)
    #: Readiness of the database: it answers and it stores (a full disk still answers).
    database_ready = providers.Singleton(
        WriteProbe, settings.provided.storage.write_probe_interval_s
    )
    database_engine = providers.Callable(
        _database_engine, tortoise_apps, database.provider, database_ready
    )
    redis_engine = providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Object(None),
        redis=providers.Callable(_redis_engine, redis, redis_resource.provider),
    )
    kafka_engine = providers.Selector(
        settings.provided.bus_backend,
        memory=providers.Object(None),
        kafka=providers.Callable(_kafka_engine, kafka, kafka_resource.provider),
    )
    #: The MongoDB collections of the modules whose selected store is MongoDB.
    mongo_models = providers.Callable(_mongo_models, timeline.mongo_models)
    mongo_resource = providers.Resource(_open_mongo, mongo, mongo_models)
    #: The engines the selected adapters use, in the order they open.
    engines = providers.Callable(
        _with_mongo,
        providers.Callable(_engines, database_engine, redis_engine, kafka_engine),
        mongo_models,
        mongo_resource.provider,
        mongo.provider,
    )


def tortoise_apps(settings: Settings) -> list[TortoiseApp]:
    """The modules' tortoise apps for ``settings``, for tools that migrate without serving."""
    return Container(settings=settings).tortoise_apps()


def mongo_models(settings: Settings) -> list[MongoModels]:
    """The modules' MongoDB collections for ``settings`` (empty when none stores there)."""
    return Container(settings=settings).mongo_models()
