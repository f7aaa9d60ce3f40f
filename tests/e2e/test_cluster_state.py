"""Real server processes on the shared Redis: node ids are exclusive while a process is alive."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import StartServer
from tests.e2e.server import ServerProcess
from tests.e2e.test_startup import serve
from tests.redis_support import unique_prefix

pytestmark = pytest.mark.e2e

SECRET = "a-shared-secret-of-at-least-32-characters"


@pytest.fixture
def cluster_env(redis_url: str) -> dict[str, str]:
    return {
        "GOMICROIM__REDIS__URL": redis_url,
        "GOMICROIM__REDIS__KEY_PREFIX": unique_prefix(),
        "GOMICROIM__IDENTITY__JWT_SECRET": SECRET,
    }


def test_a_second_process_with_a_live_node_id_does_not_start(
    tmp_path: Path, start_server: StartServer, cluster_env: dict[str, str]
) -> None:
    first: ServerProcess = start_server(GOMICROIM__SERVER__NODE_ID="gw-1", **cluster_env)

    second = serve(tmp_path / "second", "--node-id", "gw-1", **cluster_env)

    assert second.returncode == 2
    assert "Traceback" not in second.stderr
    assert "server.node_id 'gw-1' is in use" in second.stderr
    assert "give this process another --node-id" in second.stderr
    assert httpx.get(f"{first.base_url}/readyz").json()["checks"]["redis"] == "ok"


def test_a_node_id_is_free_again_once_its_process_stopped(
    start_server: StartServer, cluster_env: dict[str, str]
) -> None:
    first = start_server(GOMICROIM__SERVER__NODE_ID="gw-1", **cluster_env)
    first.stop()

    again = start_server(GOMICROIM__SERVER__NODE_ID="gw-1", **cluster_env)

    assert httpx.get(f"{again.base_url}/readyz").status_code == 200


def test_a_redis_that_does_not_answer_stops_the_start_naming_redis_url(
    tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    env = cluster_env | {"GOMICROIM__REDIS__URL": "redis://127.0.0.1:9/0"}

    result = serve(tmp_path / "data", "--node-id", "gw-1", **env)

    assert result.returncode == 2
    assert "Redis at redis://127.0.0.1:9/0 does not answer" in result.stderr
    assert "redis.url" in result.stderr
    assert "Traceback" not in result.stderr
