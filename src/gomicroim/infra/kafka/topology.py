"""The topics of a deployment and which gateway node owns which push partition, checked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gomicroim.config import ConfigError, KafkaSettings, Settings

#: What Kafka allows in a topic name, and how long it may be.
_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]+\Z")
_MAX_TOPIC_CHARS = 249


@dataclass(frozen=True)
class TopicSpec:
    """One topic and the partition count gomicroim creates it with."""

    name: str
    partitions: int


@dataclass(frozen=True)
class KafkaTopology:
    """Topic names (``kafka.topic_prefix`` + a fixed suffix), partitions and push ownership.

    Built from settings by :meth:`from_settings`, which refuses, with the fix in one line,
    any value that would misroute or lose a push.
    """

    committed: TopicSpec
    read: TopicSpec
    push: TopicSpec
    dead_letter: TopicSpec
    #: Gateway node id → the push partitions it alone consumes.
    node_partitions: Mapping[str, tuple[int, ...]]
    replication_factor: int = 1

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> KafkaTopology:
        """Check ``kafka.*`` and name the topics.

        Raises:
            ConfigError: a topic name Kafka refuses, a node without partitions, a partition
                outside the push topic or claimed by two nodes, timeouts Kafka refuses.
        """
        prefix = kafka.topic_prefix
        topology = cls(
            committed=TopicSpec(f"{prefix}committed", kafka.committed_partitions),
            read=TopicSpec(f"{prefix}read", kafka.read_partitions),
            push=TopicSpec(f"{prefix}push", kafka.push_partitions),
            # One partition: dead letters are read by people, in the order they failed.
            dead_letter=TopicSpec(f"{prefix}dead-letter", 1),
            node_partitions=_node_partitions(kafka),
            replication_factor=kafka.replication_factor,
        )
        for topic in topology.topics():
            _check_topic_name(topic.name)
        _check_timing(kafka)
        return topology

    def topics(self) -> tuple[TopicSpec, ...]:
        """Every topic gomicroim creates and keeps."""
        return (self.committed, self.read, self.push, self.dead_letter)

    def partitions_of(self, node_id: str) -> tuple[int, ...]:
        """The push partitions gateway ``node_id`` consumes.

        Raises:
            ConfigError: the node owns none, so no push could reach its sockets.
        """
        owned = self.node_partitions.get(node_id)
        if not owned:
            known = ", ".join(sorted(self.node_partitions)) or "none"
            raise ConfigError(
                f"server.node_id = {node_id!r} owns no partition of the push topic "
                f"(nodes in kafka.node_partitions: {known}); add it, e.g. "
                f'node_partitions = {{ "{node_id}" = [0] }} with a partition no other node has'
            )
        return owned

    def require_push_nodes(self) -> None:
        """Refuse a fan-out that could not address any gateway.

        Raises:
            ConfigError: ``kafka.node_partitions`` is empty.
        """
        if not self.node_partitions:
            raise ConfigError(
                "kafka.node_partitions is empty, so pushes cannot reach any gateway: give each "
                'gateway node its push partitions, e.g. node_partitions = { "gw-1" = [0, 1] }'
            )


def check_kafka(settings: Settings) -> None:
    """The Kafka part of the start-time shape check, for the roles this process runs.

    Raises:
        ConfigError: as :meth:`KafkaTopology.from_settings`; a gateway owning no push
            partition; a fan-out with no gateway to push to.
    """
    topology = KafkaTopology.from_settings(settings.kafka)
    if "gateway" in settings.server.roles:
        topology.partitions_of(settings.node_id)
    if "fanout" in settings.server.roles:
        topology.require_push_nodes()


def _node_partitions(kafka: KafkaSettings) -> dict[str, tuple[int, ...]]:
    owners: dict[int, str] = {}
    result: dict[str, tuple[int, ...]] = {}
    for node_id, partitions in kafka.node_partitions.items():
        key = f"kafka.node_partitions.{node_id}"
        if not node_id:
            raise ConfigError("kafka.node_partitions: a node id is empty; name every node")
        if not partitions:
            raise ConfigError(
                f"{key} is empty: list at least one push partition for it, or remove the node"
            )
        for partition in partitions:
            if partition >= kafka.push_partitions:
                last = kafka.push_partitions - 1
                raise ConfigError(
                    f"{key}: partition {partition} is outside the push topic, which has "
                    f"kafka.push_partitions = {kafka.push_partitions} (0..{last}); "
                    "raise push_partitions or pick a partition inside it"
                )
            owner = owners.get(partition)
            if owner is not None:
                where = "twice" if owner == node_id else f"by {owner!r} and {node_id!r}"
                raise ConfigError(
                    f"kafka.node_partitions: push partition {partition} is claimed {where}; "
                    "give each partition to exactly one node"
                )
            owners[partition] = node_id
        result[node_id] = tuple(partitions)
    return result


def _check_topic_name(name: str) -> None:
    if not _TOPIC_CHARS.match(name) or len(name) > _MAX_TOPIC_CHARS:
        raise ConfigError(
            f"kafka.topic_prefix makes the topic name {name!r}, which Kafka refuses: use only "
            f"letters, digits, '.', '_' and '-', and at most {_MAX_TOPIC_CHARS} characters"
        )


def _check_timing(kafka: KafkaSettings) -> None:
    if not kafka.consumer_group.strip():
        raise ConfigError("kafka.consumer_group is empty; name the fan-out workers' group")
    if kafka.heartbeat_interval_ms * 3 > kafka.session_timeout_ms:
        raise ConfigError(
            f"kafka.heartbeat_interval_ms = {kafka.heartbeat_interval_ms} is more than a third "
            f"of kafka.session_timeout_ms = {kafka.session_timeout_ms}; a consumer would be "
            "dropped from its group between heartbeats: lower the interval or raise the timeout"
        )
    if kafka.retry_backoff_s > kafka.max_retry_backoff_s:
        raise ConfigError(
            f"kafka.retry_backoff_s = {kafka.retry_backoff_s} is above kafka.max_retry_backoff_s"
            f" = {kafka.max_retry_backoff_s}; make the first pause the smaller one"
        )
