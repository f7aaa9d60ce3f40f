"""Kafka settings checked at start, and how pushes are spread over a node's partitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from gomicroim.config import ConfigError, check_shape, load_settings
from gomicroim.gateway.contract import Push, PushBatch, PushTarget
from gomicroim.infra.kafka.push import ReplayFilter, _split
from gomicroim.infra.kafka.topology import KafkaTopology


def topology(**kafka: Any) -> KafkaTopology:
    return KafkaTopology.from_settings(load_settings(env={}, overrides={"kafka": kafka}).kafka)


def test_topic_names_come_from_the_prefix() -> None:
    topics = topology(topic_prefix="im.", committed_partitions=6).topics()

    assert [(t.name, t.partitions) for t in topics] == [
        ("im.committed", 6),
        ("im.read", 4),
        ("im.push", 8),
        ("im.dead-letter", 1),
    ]


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        (
            {"node_partitions": {"gw-1": [0, 1], "gw-2": [1]}},
            r"push partition 1 is claimed by 'gw-1' and 'gw-2'; give each partition to exactly",
        ),
        ({"node_partitions": {"gw-1": [2, 2]}}, r"push partition 2 is claimed twice"),
        ({"node_partitions": {"gw-1": []}}, r"kafka.node_partitions.gw-1 is empty: list at least"),
        (
            {"push_partitions": 4, "node_partitions": {"gw-1": [4]}},
            r"partition 4 is outside the push topic.*push_partitions = 4 \(0\.\.3\); raise",
        ),
        ({"topic_prefix": "my topics/"}, r"kafka.topic_prefix makes the topic name 'my topics/"),
        (
            {"session_timeout_ms": 3000, "heartbeat_interval_ms": 1500},
            r"heartbeat_interval_ms = 1500 is more than a third of kafka.session_timeout_ms",
        ),
        ({"consumer_group": " "}, r"kafka.consumer_group is empty"),
        (
            {"retry_backoff_s": 5, "max_retry_backoff_s": 1},
            r"kafka.retry_backoff_s = 5.0 is above kafka.max_retry_backoff_s",
        ),
    ],
)
def test_settings_that_would_misroute_are_refused_with_the_fix(
    kafka: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        topology(**kafka)

    assert "\n" not in str(refused.value)


def test_a_gateway_must_own_a_partition_and_a_fanout_needs_some_gateway() -> None:
    nodes = topology(node_partitions={"gw-1": [0, 3]})

    assert nodes.partitions_of("gw-1") == (0, 3)
    with pytest.raises(ConfigError, match=r"'gw-2' owns no partition.*nodes in .*: gw-1"):
        nodes.partitions_of("gw-2")
    with pytest.raises(ConfigError, match=r"kafka\.node_partitions is empty"):
        topology().require_push_nodes()


def _push(seq: int, *users: int, kind: str = "message") -> Push:
    payload = msgspec.json.encode({"conversation_id": "g:1", "seq": seq, "user_id": 0})
    return Push(
        kind=kind,  # type: ignore[arg-type]
        payload=msgspec.Raw(payload),
        targets=[PushTarget(user, "phone") for user in users],
    )


def test_a_nodes_devices_are_spread_over_its_partitions_by_user() -> None:
    batch = PushBatch(node_id="gw-1", created_at=1, pushes=[_push(1, 1, 2, 3), _push(2, 2)])

    parts = _split(batch, (5, 6))

    assert sorted(parts) == [5, 6]
    assert [[t.user_id for t in p.targets] for p in parts[6].pushes] == [[1, 3]]
    assert [[t.user_id for t in p.targets] for p in parts[5].pushes] == [[2], [2]]
    assert _split(batch, (4,)) == {4: batch}


def test_a_replayed_or_older_push_does_not_reach_a_device_again() -> None:
    replays = ReplayFilter()

    first, cut_first = replays.fresh(PushBatch(node_id="n", created_at=1, pushes=[_push(2, 1)]))
    again, cut_again = replays.fresh(
        PushBatch(node_id="n", created_at=1, pushes=[_push(1, 1, 2), _push(2, 1), _push(3, 1)])
    )
    read, _ = replays.fresh(PushBatch(node_id="n", created_at=1, pushes=[_push(2, 1, kind="read")]))

    assert (len(first.pushes), cut_first) == (1, 0)
    # seq 1 reaches only the device that never had a later push; seq 2 is a replay.
    assert [([t.user_id for t in p.targets]) for p in again.pushes] == [[2], [1]]
    assert cut_again == 2
    # A read receipt is another stream than the messages of the conversation.
    assert len(read.pushes) == 1


def test_remembered_devices_are_bounded() -> None:
    replays = ReplayFilter(max_remembered=2)
    for user in (1, 2, 3):
        replays.fresh(PushBatch(node_id="n", created_at=1, pushes=[_push(5, user)]))

    again, cut = replays.fresh(PushBatch(node_id="n", created_at=1, pushes=[_push(5, 1, 3)]))

    # The oldest device was forgotten (a repeat may reach it; it dedupes by seq itself).
    assert [t.user_id for t in again.pushes[0].targets] == [1]
    assert cut == 1


def test_the_cluster_example_config_passes_the_start_checks() -> None:
    path = Path(__file__).resolve().parents[2] / "config" / "cluster.toml"
    for roles, node in ((["api"], "api-1"), (["fanout"], "fanout-1"), (["gateway"], "gw-2")):
        settings = load_settings(
            path, env={}, overrides={"server": {"roles": roles, "node_id": node}}
        )
        check_shape(settings)
        nodes = KafkaTopology.from_settings(settings.kafka)
        nodes.require_push_nodes()

    assert nodes.partitions_of("gw-2") == (4, 5, 6, 7)
    assert settings.storage.database_url.startswith("mysql://")
    assert settings.redis.url.startswith("redis://")


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"roles": ["gateway"], "node_id": "gw-9"}, r"'gw-9' owns no partition"),
        ({"roles": ["fanout"], "node_id": "fanout-1"}, r"kafka\.node_partitions is empty"),
    ],
)
def test_the_start_check_refuses_a_kafka_shape_before_anything_opens(
    server: dict[str, Any], message: str
) -> None:
    settings = load_settings(
        env={},
        overrides={
            "server": server,
            "kafka": {"bootstrap_servers": "k1:9092"},
            "redis": {"url": "redis://r1:6379/0"},
        },
    )

    with pytest.raises(ConfigError, match=message):
        check_shape(settings)
