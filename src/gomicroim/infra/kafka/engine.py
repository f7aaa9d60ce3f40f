"""The Kafka engine: one producer and one admin client per process, and the topics kept.

Started as a container resource when ``kafka.bootstrap_servers`` is set. The broker may be down
when the process starts or at any time after: nothing here fails the start for that. Adapters
get :class:`~gomicroim.errors.Unavailable` while it is down, and a background task reconnects
and (re)creates missing topics with their configured partitions, because a broker that lost
its data (tansu keeps nothing across a restart) comes back without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from gomicroim.config import KafkaSettings
from gomicroim.errors import Unavailable
from gomicroim.infra.kafka.topology import KafkaTopology, TopicSpec
from gomicroim.infra.tasks import stop_tasks

log = logging.getLogger("gomicroim.kafka")

#: Kafka's error code for a CreateTopics of a topic that exists.
_TOPIC_EXISTS = 36

Check = Callable[[], Awaitable[None]]


class _MetadataWithoutAutoCreate(aiokafka.client.MetadataRequest):  # type: ignore[misc]
    """Metadata requests that never create a topic as a side effect.

    Brokers with ``auto.create.topics.enable`` (tansu always) create a topic they are asked
    about, with their default partition count. Asked by a producer right after the broker lost
    its topics, that would give the push topic the wrong partitions; gomicroim creates its
    topics itself, with the configured counts.
    """

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool = False):
        super().__init__(topics, allow_auto_topic_creation)


# aiokafka builds the request in its client and admin modules; neither takes an option for it.
aiokafka.client.MetadataRequest = _MetadataWithoutAutoCreate
aiokafka.admin.client.MetadataRequest = _MetadataWithoutAutoCreate


def unavailable(exc: BaseException, servers: str) -> Unavailable:
    """The :class:`Unavailable` a failed Kafka call means, naming the broker and the fix."""
    detail = str(exc) or type(exc).__name__
    return Unavailable(
        f"kafka at {servers} does not answer ({detail}); check kafka.bootstrap_servers and that "
        "the broker runs, gomicroim retries by itself"
    )


def not_reached(servers: str) -> Unavailable:
    """The :class:`Unavailable` of a broker this process has not connected to yet."""
    return Unavailable(
        f"kafka at {servers} has not been reached yet; check kafka.bootstrap_servers and that "
        "the broker runs, gomicroim retries by itself"
    )


class KafkaEngine:
    """Clients shared by this process's Kafka adapters; building one does no I/O.

    Adapters built for this process's roles declare what they use (:meth:`want_producer`,
    :meth:`on_check`) while the app is assembled; :meth:`start` then opens only that.
    """

    def __init__(self, settings: KafkaSettings, topology: KafkaTopology):
        self.settings = settings
        self.topology = topology
        self.servers = settings.bootstrap_servers
        #: Grows each time this process found its topics missing and created them again.
        self.epoch = 0
        self._wants_producer = False
        self._producer: AIOKafkaProducer | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._checks: list[Check] = []
        self._keeper: asyncio.Task[None] | None = None
        self._problem: str | None = None
        self._topics_seen = False
        self._topics_lock = asyncio.Lock()

    # -- what adapters use ------------------------------------------------------------------

    def client_options(self) -> dict[str, Any]:
        """Connection options every aiokafka client of this process takes."""
        return {
            "bootstrap_servers": self.servers,
            "request_timeout_ms": self.settings.request_timeout_ms,
            "retry_backoff_ms": 200,
            "client_id": "gomicroim",
        }

    def want_producer(self) -> None:
        """Declare that an adapter of this process produces (the API, the fan-out)."""
        self._wants_producer = True

    def on_check(self, check: Check) -> None:
        """Run ``check`` after every periodic topic check (e.g. a publisher's log check)."""
        self._checks.append(check)

    def producer(self) -> AIOKafkaProducer:
        """The started producer (acks from every in-sync replica).

        Raises:
            Unavailable: the broker has not been reached since the start; retried meanwhile.
        """
        if self._producer is None:
            raise not_reached(self.servers)
        return self._producer

    async def latest_offsets(self, topic: str, partitions: set[int]) -> dict[int, int]:
        """The broker's answer to ListOffsets(LATEST) for ``partitions`` of ``topic``.

        Tansu answers the last batch's base offset + 1, not the log end; callers only compare
        it with offsets they know were written before.

        Raises:
            Unavailable: the broker does not answer.
        """
        if self._probe is None:
            raise not_reached(self.servers)
        tps = [TopicPartition(topic, p) for p in partitions]
        try:
            async with asyncio.timeout(self.settings.request_timeout_ms / 1000):
                offsets = await self._probe.end_offsets(tps)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise unavailable(exc, self.servers) from exc
        return {tp.partition: int(offset) for tp, offset in offsets.items()}

    async def ping(self) -> None:
        """Raise :class:`Unavailable` unless the broker answers and the topics are usable."""
        if self._admin is None:
            raise not_reached(self.servers)
        try:
            async with asyncio.timeout(self.settings.request_timeout_ms / 1000):
                topics = set(await self._admin.list_topics())
        except (KafkaError, OSError, TimeoutError) as exc:
            raise unavailable(exc, self.servers) from exc
        missing = sorted(t.name for t in self.topology.topics() if t.name not in topics)
        if missing:
            raise Unavailable(
                f"kafka topics {', '.join(missing)} do not exist yet; gomicroim creates them "
                "within kafka.topic_check_interval_s unless the broker refuses (see the log)"
            )
        if self._problem is not None:
            raise Unavailable(self._problem)

    async def ensure_topics(self) -> list[str]:
        """Create the topics that are missing; return their names.

        Also checks that the push topic has every partition a node is configured to own
        (``/readyz`` names it if not).

        Raises:
            Unavailable: the broker does not answer.
        """
        async with self._topics_lock:
            if self._admin is None:
                raise not_reached(self.servers)
            try:
                async with asyncio.timeout(self.settings.request_timeout_ms / 1000):
                    return await self._ensure_topics(self._admin)
            except (KafkaError, OSError, TimeoutError) as exc:
                raise unavailable(exc, self.servers) from exc

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (once, briefly) and keep the topics; a broker that is down is retried."""
        try:
            await self._connect()
            await self.ensure_topics()
        except Unavailable as exc:
            log.warning("kafka not reachable at start; retrying", extra={"reason": exc.message})
        self._keeper = asyncio.create_task(self._keep(), name="kafka-topic-keeper")

    async def stop(self) -> None:
        """Stop the keeper, flush the producer and close every client."""
        if self._keeper is not None:
            await stop_tasks(self._keeper)
            self._keeper = None
        clients: list[Any] = [self._producer, self._probe]
        for client in clients:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
        self._producer = self._probe = self._admin = None

    async def _connect(self) -> None:
        options = self.client_options()
        opened: list[str] = []
        try:
            async with asyncio.timeout(self.settings.request_timeout_ms / 1000):
                if self._admin is None:
                    admin = AIOKafkaAdminClient(**options)
                    await _start_or_close(admin.start, admin.close)
                    self._admin = admin
                    opened.append("admin")
                if self._wants_producer and self._producer is None:
                    producer = AIOKafkaProducer(acks="all", linger_ms=1, **options)
                    await _start_or_close(producer.start, producer.stop)
                    self._producer = producer
                    opened.append("producer")
                if self._wants_producer and self._probe is None:
                    probe = AIOKafkaConsumer(enable_auto_commit=False, **options)
                    await _start_or_close(probe.start, probe.stop)
                    self._probe = probe
        except (KafkaError, OSError, TimeoutError) as exc:
            raise unavailable(exc, self.servers) from exc
        if opened:
            log.info("kafka connected", extra={"servers": self.servers, "clients": opened})

    async def _keep(self) -> None:
        interval = self.settings.topic_check_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self._connect()
                await self.ensure_topics()
                for check in self._checks:
                    await check()
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:
                log.info("kafka check failed; retrying", extra={"reason": exc.message})
            except Exception:
                log.exception("kafka check failed; retrying")

    async def _ensure_topics(self, admin: AIOKafkaAdminClient) -> list[str]:
        existing = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(None)}
        missing = [spec for spec in self.topology.topics() if spec.name not in existing]
        if missing:
            await self._create(admin, missing)
            existing.update({spec.name: spec.partitions for spec in missing})
            if self._topics_seen:
                # Topics this process saw before are gone: the broker lost its log.
                self.epoch += 1
                log.warning(
                    "kafka topics were missing and are created again; the broker lost them",
                    extra={"topics": [s.name for s in missing], "epoch": self.epoch},
                )
        self._topics_seen = True
        self._problem = _push_shortfall(self.topology, existing.get(self.topology.push.name, 0))
        if self._problem:
            log.error("kafka push topic unusable", extra={"reason": self._problem})
        return [spec.name for spec in missing]

    async def _create(self, admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
        factor = self.topology.replication_factor
        topics = [NewTopic(spec.name, spec.partitions, factor) for spec in specs]
        response = await admin.create_topics(topics)
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_EXISTS):
                raise Unavailable(
                    f"kafka refused to create topic {topic} (error {code}: {message}); check "
                    "kafka.replication_factor against the brokers, or create it by hand"
                )
        log.info("kafka topics created", extra={"topics": [s.name for s in specs]})


def _push_shortfall(topology: KafkaTopology, partitions: int) -> str | None:
    owned = [p for parts in topology.node_partitions.values() for p in parts]
    if owned and max(owned) >= partitions:
        return (
            f"kafka topic {topology.push.name} has {partitions} partitions but "
            f"kafka.node_partitions uses partition {max(owned)}; add partitions to the topic "
            f"(kafka-topics --alter --partitions {topology.push.partitions})"
        )
    return None


async def _start_or_close(
    start: Callable[[], Awaitable[None]], close: Callable[[], Awaitable[None]]
) -> None:
    # A client whose start failed still holds sockets and tasks; a new one is built next time.
    try:
        await start()
    except BaseException:
        with contextlib.suppress(Exception):
            await close()
        raise


async def open_kafka(engine: KafkaEngine) -> AsyncIterator[KafkaEngine]:
    """Run ``engine`` for the life of the app: the form a ``providers.Resource`` runs."""
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
