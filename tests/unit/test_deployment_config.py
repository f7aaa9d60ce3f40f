"""Roles, node ids and cluster backends in settings, the start-time shape check and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gomicroim.cli import main
from gomicroim.config import ConfigError, Settings, check_shape, load_settings

REPO = Path(__file__).resolve().parents[2]
CLUSTER = {
    # On Kafka every gateway node owns push partitions.
    "kafka": {"bootstrap_servers": "k1:9092", "node_partitions": {"gw-1": [0], "replica-2": [1]}},
    "redis": {"url": "redis://r1:6379/0"},
}


def settings(**sections: dict[str, object]) -> Settings:
    return load_settings(env={}, overrides=sections)


def config_error(**sections: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings(env={}, overrides=sections)
    return str(error.value)


def shape_error(**sections: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as error:
        check_shape(settings(**sections))
    return str(error.value)


def test_by_default_one_process_runs_every_role_in_process() -> None:
    defaults = settings()

    assert defaults.server.roles == ["api", "gateway", "fanout"]
    assert defaults.node_id == "node-1"
    assert (defaults.redis.url, defaults.kafka.bootstrap_servers, defaults.mongo.url) == ("",) * 3
    assert defaults.timeline.backend == "sql"
    assert not defaults.clustered
    check_shape(defaults)


def test_the_shipped_defaults_file_passes_the_shape_check() -> None:
    check_shape(load_settings(REPO / "config" / "default.toml", env={}))


def test_roles_come_from_a_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "gomicroim.toml"
    path.write_text('[server]\nroles = ["gateway"]\nnode_id = "gw-1"\n', encoding="utf-8")

    from_file = load_settings(path, env={})
    from_env = load_settings(env={"GOMICROIM__SERVER__ROLES": '["api", "fanout"]'})

    assert (from_file.server.roles, from_file.node_id) == (["gateway"], "gw-1")
    assert from_env.server.roles == ["api", "fanout"]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ([], "server.roles: Expected `array` of length >= 1"),
        (["web"], "server.roles[0]: Invalid enum value 'web'; allowed: api, fanout, gateway"),
        (["api", "gateway", "api"], "server.roles: api listed more than once; name each role once"),
    ],
)
def test_impossible_role_lists_are_refused_naming_the_key(roles: list[str], message: str) -> None:
    assert config_error(server={"roles": roles}) == f"invalid setting: {message}"


def test_a_literal_setting_lists_what_it_allows() -> None:
    assert config_error(timeline={"backend": "cassandra"}).endswith("allowed: mongo, sql")


@pytest.mark.parametrize(
    ("sections", "fix"),
    [
        ({"server": {"roles": ["api"]}}, "set kafka.bootstrap_servers"),
        (
            {"server": {"roles": ["api", "fanout"]}, "kafka": CLUSTER["kafka"]},
            "set redis.url",
        ),
        ({"server": {"roles": ["gateway"], "node_id": "gw-1"}}, "set kafka.bootstrap_servers"),
        ({"timeline": {"backend": "mongo"}}, "set mongo.url"),
        ({**CLUSTER, "server": {"roles": ["gateway"]}}, "set server.node_id (or pass --node-id)"),
        ({"redis": CLUSTER["redis"]}, "set server.node_id"),
        ({"kafka": CLUSTER["kafka"]}, "set server.node_id"),
        # The API's outbox relay claims rows under its node id: two without one would share.
        ({**CLUSTER, "server": {"roles": ["api"]}}, "set server.node_id (or pass --node-id)"),
        ({**CLUSTER, "server": {"roles": ["fanout"]}}, "needs a node id"),
    ],
)
def test_a_shape_that_cannot_work_is_refused_naming_the_fix(
    sections: dict[str, dict[str, object]], fix: str
) -> None:
    message = shape_error(**sections)

    assert fix in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "sections",
    [
        {**CLUSTER, "server": {"roles": ["api"], "node_id": "api-1"}},
        {**CLUSTER, "server": {"roles": ["fanout"], "node_id": "fanout-1"}},
        {**CLUSTER, "server": {"roles": ["gateway", "fanout"], "node_id": "gw-1"}},
        {**CLUSTER, "server": {"node_id": "replica-2"}},
        {"timeline": {"backend": "mongo"}, "mongo": {"url": "mongodb://m1:27017"}},
    ],
)
def test_cluster_shapes_with_their_engines_pass_the_check(
    sections: dict[str, dict[str, object]],
) -> None:
    check_shape(settings(**sections))


def test_flags_override_the_roles_and_node_id_of_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gomicroim.toml"
    path.write_text('[server]\nroles = ["fanout"]\nnode_id = "from-file"\n', encoding="utf-8")

    status = main(["config", "--config", str(path), "--roles", "api, gateway", "--node-id", "gw-1"])

    server = json.loads(capsys.readouterr().out)["server"]
    assert status == 0
    assert (server["roles"], server["node_id"]) == (["api", "gateway"], "gw-1")


@pytest.mark.parametrize(
    ("roles", "message"),
    [("api,api", "api listed more than once"), ("api,web", "Invalid enum value 'web'")],
)
def test_a_bad_roles_flag_exits_2_with_the_settings_message(
    capsys: pytest.CaptureFixture[str], roles: str, message: str
) -> None:
    status = main(["config", "--roles", roles])

    assert status == 2
    assert message in capsys.readouterr().err


def test_an_offline_push_webhook_needs_a_secret_and_an_http_url() -> None:
    assert "set push.webhook_secret" in shape_error(push={"webhook_url": "https://push.test/"})
    assert "not an http:// or https:// URL" in shape_error(
        push={"webhook_url": "ftp://push.test/", "webhook_secret": "k"}
    )
    check_shape(settings(push={"webhook_url": "https://push.test/", "webhook_secret": "k"}))
