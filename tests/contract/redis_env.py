"""The machine's shared Redis for contract tests: a key prefix per test, never a flush.

``GOMICROIM_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) is shared with other test
runs: every key written here starts with :data:`SESSION_PREFIX`, and :func:`redis_keys_deleted`
deletes them when the session ends.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("GOMICROIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SESSION_PREFIX = f"gomicroim_test_{secrets.token_hex(4)}:"
START_HINT = "start it with `redis-server --daemonize yes` (or set GOMICROIM_TEST_REDIS_URL)"
#: Nothing listens on port 1 of loopback: a Redis that is down, refusing at once.
DOWN_URL = "redis://127.0.0.1:1/0"


def unique_prefix() -> str:
    """A key prefix of one test, under the session's."""
    return f"{SESSION_PREFIX}{secrets.token_hex(3)}:"


def require_redis() -> None:
    """Fail the test, saying how to start Redis, unless it answers."""
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); {START_HINT}")


@pytest.fixture(scope="session")
def redis_keys_deleted() -> Iterator[None]:
    """Delete every key this session wrote on the shared Redis at its end."""
    yield
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        keys = list(client.scan_iter(match=f"{SESSION_PREFIX}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()
    except redis.RedisError:
        pass
