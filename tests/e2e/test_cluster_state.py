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

    assert second.returncode != 0
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
