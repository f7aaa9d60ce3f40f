"""Redis for tests: the machine's shared server under a unique key prefix, or a private one.

The shared server (``GOMICROIM_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``) is never
flushed or restarted: every test gets a prefix of its own and the session deletes its keys at
the end. A test that must restart or flush Redis starts a :class:`PrivateRedis`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

#: The machine's shared Redis; CI machines run one here.
REDIS_URL = os.environ.get("GOMICROIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Every key a test session writes on the shared server starts with this.
SESSION_PREFIX = f"gomicroim_test_{secrets.token_hex(4)}:"
START_HINT = (
    "start it with `redis-server --daemonize yes` (or point GOMICROIM_TEST_REDIS_URL at a "
    "reachable server)"
)
REDIS_SERVER = "/usr/bin/redis-server"


def unreachable(url: str = REDIS_URL) -> str | None:
    """Why Redis at ``url`` cannot be used, or None when it answers."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"Redis at {url} is not reachable ({exc}); {START_HINT}"
    return None


def unique_prefix() -> str:
    """A key prefix no other test uses."""
    return f"{SESSION_PREFIX}{secrets.token_hex(3)}:"


def delete_session_keys(url: str = REDIS_URL) -> None:
    """Delete every key this session wrote on the shared server (never FLUSHALL)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{SESSION_PREFIX}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of one test, on a free port, without persistence: stop, start, flush."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (empty: nothing is saved) and wait until it answers."""
        log = (self.workdir / "redis.log").open("ab")
        self._proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while unreachable(self.url) is not None:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start; see {log.name}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill it (its data is gone: nothing is saved)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections open, nothing answers."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process go on (SIGCONT)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        """FLUSHALL this private server."""
        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, killed at the end."""
    if not Path(REDIS_SERVER).exists():
        raise RuntimeError(f"{REDIS_SERVER} is missing: `apt-get install redis-server`")
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
