"""A full data directory: sends answer 503, readiness says so, and it all recovers by itself.

The server runs in a private mount namespace (``unshare --mount``, as root) with its data
directory on a small tmpfs that nothing outside the namespace sees. The test fills that tmpfs
with a ballast file from inside the namespace (``nsenter``), sends until the disk refuses,
then deletes the ballast and sends again, with no restart in between.

A read-only flip of the same mount cannot be done here: Linux refuses ``mount -o remount,ro``
with EBUSY while any file on the mount is open for writing, and SQLite keeps its database,
WAL and shared-memory files open. :func:`test_a_mount_in_use_cannot_be_made_read_only` shows
the refusal; tests/unit/test_storage_faults.py covers read-only with SQLite's own read-only
state (``PRAGMA query_only``) on the app's connection instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.client import Api, User, conversation_id
from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

TMPFS_SIZE = "24m"
#: Bodies this large make each send grow the write-ahead log by a few pages.
BODY = "x" * 16_000


def _require_root_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs in a private mount namespace: run it as root")
    for tool in ("unshare", "nsenter", "mount", "dd"):
        if shutil.which(tool) is None:
            pytest.fail(f"this test needs {tool}(1) (util-linux / coreutils)")


def on_tmpfs(data_dir: Path) -> tuple[str, ...]:
    """A command prefix that runs the server with ``data_dir`` on a private tmpfs."""
    script = f'mount -t tmpfs -o size={TMPFS_SIZE},mode=0700 tmpfs "$0" && exec "$@"'
    return ("unshare", "--mount", "sh", "-c", script, str(data_dir))


def in_namespace(server: ServerProcess, command: str) -> subprocess.CompletedProcess[str]:
    """Run a shell ``command`` in the server's mount namespace (where its tmpfs is)."""
    return subprocess.run(
        ["nsenter", "--mount", "--target", str(server.pid), "sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def tmpfs_server(tmp_path: Path) -> Iterator[ServerProcess]:
    _require_root_tools()
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    server = ServerProcess(
        data_dir=data_dir,
        log_dir=tmp_path,
        env={"GOMICROIM__STORAGE__WRITE_PROBE_INTERVAL_S": "0.5"},
        prefix=on_tmpfs(data_dir),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, object]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()


async def test_a_full_disk_answers_503_then_recovers_without_losing_an_acknowledged_send(
    tmpfs_server: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(tmpfs_server)
    alice: User = await api.register_and_login("alice")
    bob: User = await api.register_and_login("bob")
    acknowledged: list[str] = []
    refused: list[httpx.Response] = []

    async def send(tag: str) -> httpx.Response:
        response = await api.send_raw(alice, bob.id, BODY, client_msg_id=tag)
        if response.status_code in (200, 201):
            acknowledged.append(tag)
        else:
            refused.append(response)
        return response

    for n in range(5):
        assert (await send(f"before-{n}")).status_code == 201

    ballast = tmpfs_server.data_dir / "ballast"
    filled = in_namespace(tmpfs_server, f'dd if=/dev/zero of="{ballast}" bs=64k')
    assert "No space left" in filled.stderr, filled.stderr

    # Sends may still fit into space the database file or its log already hold; keep going
    # until the disk refuses one (a few hundred KiB at most).
    for n in range(400):
        if (await send(f"full-{n}")).status_code not in (200, 201):
            break
    assert refused, "the disk never refused a send: the ballast did not fill it"
    for n in range(3):  # still full: refused again, never acknowledged without being stored
        await send(f"still-full-{n}")
    for response in refused:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable", response.text
        assert "full or read-only" in response.json()["error"]["message"]
        assert int(response.headers["Retry-After"]) >= 1

    async def not_ready() -> bool:
        status, body = await readiness(api.client)
        return status == 503 and "cannot store" in str(body["checks"]["database"])  # type: ignore[index]

    await wait_for(not_ready, "/readyz to answer 503 naming the database")

    freed = in_namespace(tmpfs_server, f'rm -f "{ballast}"')
    assert freed.returncode == 0, freed.stderr

    async def ready() -> bool:
        return (await readiness(api.client))[0] == 200

    await wait_for(ready, "/readyz to answer 200 again")
    for n in range(5):
        assert (await send(f"after-{n}")).status_code == 201
    # A refused send retried with its client_msg_id is stored now, once.
    retried = await api.send_raw(alice, bob.id, BODY, client_msg_id="full-retry")
    assert retried.status_code == 201

    stored = [m["client_msg_id"] for m in await api.history(bob, conversation_id(alice.id, bob.id))]
    assert sorted(stored) == sorted([*acknowledged, "full-retry"])
    assert tmpfs_server.running


def test_a_mount_in_use_cannot_be_made_read_only(tmp_path: Path) -> None:
    """Why the read-only case is injected: the kernel refuses to flip a mount in use."""
    _require_root_tools()
    target = tmp_path / "mnt"
    target.mkdir()
    script = (
        f'mount -t tmpfs -o size=1m tmpfs "{target}" && '
        f'exec 3>"{target}/open-for-writing" && mount -o remount,ro "{target}"'
    )
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "busy" in result.stderr, result.stderr
