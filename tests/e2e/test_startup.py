"""Settings the server cannot use make it fail fast with a message an operator can act on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import BASE_ENV, EXECUTABLE
from tests.redis_support import REDIS_URL, unique_prefix

pytestmark = pytest.mark.e2e


def serve(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    environment.update(BASE_ENV, **env)
    return subprocess.run(
        [str(EXECUTABLE), "serve", "--port", "0", "--data-dir", str(data_dir), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_an_invalid_setting_is_named_and_nothing_starts(tmp_path: Path) -> None:
    result = serve(tmp_path / "data", GOMICROIM__LIMITS__BURST="0")
    assert result.returncode == 2
    assert "limits.burst" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--roles", "api"], "set kafka.bootstrap_servers"),
        (["--roles", "gateway,gateway"], "gateway listed more than once"),
        (["--roles", "web"], "allowed: api, fanout, gateway"),
    ],
)
def test_roles_that_cannot_work_are_named_and_nothing_starts(
    tmp_path: Path, args: list[str], named: str
) -> None:
    result = serve(tmp_path / "data", *args)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_fanout_on_kafka_with_no_gateway_partitions_stops_the_start(tmp_path: Path) -> None:
    result = serve(
        tmp_path / "data",
        "--roles",
        "fanout",
        "--node-id",
        "fanout-1",
        GOMICROIM__KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:9",
        GOMICROIM__REDIS__URL=REDIS_URL,
        GOMICROIM__REDIS__KEY_PREFIX=unique_prefix(),
        GOMICROIM__IDENTITY__JWT_SECRET="a-shared-secret-of-at-least-32-characters",
    )
    assert result.returncode == 2
    assert "kafka.node_partitions is empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_an_unusable_data_dir_is_named_without_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    result = serve(blocker / "data")
    assert result.returncode != 0
    assert str(blocker / "data") in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("roles", ["api", "fanout", "api,gateway,fanout"])
def test_every_role_in_a_cluster_without_a_node_id_stops_the_start(
    tmp_path: Path, roles: str
) -> None:
    result = serve(
        tmp_path / "data",
        "--roles",
        roles,
        GOMICROIM__KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:9",
        GOMICROIM__REDIS__URL=REDIS_URL,
        GOMICROIM__IDENTITY__JWT_SECRET="a-shared-secret-of-at-least-32-characters",
    )
    assert result.returncode == 2
    assert "in a cluster needs a node id" in result.stderr
    assert "--node-id" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()
