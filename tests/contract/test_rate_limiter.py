"""Contract of the ``RateLimiter`` port: ``limits`` on the in-process storage and on Redis.

The Redis cases use the machine's shared server under a key prefix of their own (see
tests/redis_support.py); nothing is flushed. When that Redis cannot be reached they fail,
saying how to start it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from gomicroim.config import RedisSettings
from gomicroim.errors import RateLimited, Unavailable
from gomicroim.http.ratelimit import (
    BoundedMemoryStorage,
    LimitsRateLimiter,
    RateLimiter,
    Rule,
    redis_storage,
)
from gomicroim.infra.redis import RedisEngine
from tests.conftest import RedisEngines
from tests.redis_support import unique_prefix

#: Nothing listens on port 1 of loopback: a Redis that is down, refusing at once.
DOWN_URL = "redis://127.0.0.1:1/0"

Limiters = Callable[[], RateLimiter]


def rule(amount: int = 3, window_s: int = 60, when_down: str = "open", name: str = "t") -> Rule:
    return Rule(
        name=f"limits.{name}",
        amount=amount,
        window_s=window_s,
        when_down=when_down,  # type: ignore[arg-type]
        counts="things",
    )


@pytest.fixture(params=["memory", "redis"])
async def limiters(request: pytest.FixtureRequest) -> AsyncIterator[Limiters]:
    """Builds limiters that share one store, as the replicas of one deployment do."""
    if request.param == "memory":
        storage = BoundedMemoryStorage(max_keys=10_000)
        yield lambda: LimitsRateLimiter(storage)
        return
    engines = RedisEngines(request.getfixturevalue("redis_url"), unique_prefix())
    # Each limiter is a process of its own: its own engine (pool) on the same keys.
    yield lambda: LimitsRateLimiter(redis_storage(RedisEngine(engines.settings())))


async def allowed(limiter: RateLimiter, r: Rule, key: str, attempts: int) -> int:
    count = 0
    for _ in range(attempts):
        try:
            await limiter.hit(r, key)
        except RateLimited:
            continue
        count += 1
    return count


async def test_a_key_spends_its_amount_then_gets_429_with_retry_after(limiters: Limiters) -> None:
    limiter, r = limiters(), rule(amount=3, window_s=60)

    assert await allowed(limiter, r, "alice", 3) == 3
    with pytest.raises(RateLimited) as refused:
        await limiter.hit(r, "alice")

    assert (refused.value.status, refused.value.code) == (429, "rate_limited")
    assert 1 <= refused.value.retry_after_s <= 60.1  # the window, and a moment to be sure
    assert "limits.t" in refused.value.message


async def test_keys_and_rules_are_counted_apart(limiters: Limiters) -> None:
    limiter = limiters()
    await allowed(limiter, rule(amount=2), "alice", 5)

    assert await allowed(limiter, rule(amount=2), "bob", 5) == 2
    assert await allowed(limiter, rule(amount=2, name="other"), "alice", 5) == 2


async def test_check_charges_nothing(limiters: Limiters) -> None:
    limiter, r = limiters(), rule(amount=2)
    for _ in range(10):
        await limiter.check(r, "alice")

    assert await allowed(limiter, r, "alice", 5) == 2
    with pytest.raises(RateLimited):
        await limiter.check(r, "alice")


async def test_a_refused_hit_charges_nothing(limiters: Limiters) -> None:
    # Sliding windows weigh the previous window's count: a refused hit that was counted would
    # keep a flooding client locked out for good. One second windows show it quickly.
    limiter, r = limiters(), rule(amount=2, window_s=1)
    assert await allowed(limiter, r, "alice", 50) == 2

    await asyncio.sleep(2.1)  # both windows of the two counted hits have passed

    assert await allowed(limiter, r, "alice", 5) == 2


async def test_reset_forgets_what_a_key_spent(limiters: Limiters) -> None:
    limiter, r = limiters(), rule(amount=2)
    await allowed(limiter, r, "alice", 2)

    await limiter.reset(r, "alice")

    assert await allowed(limiter, r, "alice", 5) == 2


async def test_an_amount_of_zero_disables_the_rule(limiters: Limiters) -> None:
    limiter, r = limiters(), rule(amount=0)

    assert await allowed(limiter, r, "alice", 200) == 200


async def test_replicas_share_the_counts(limiters: Limiters) -> None:
    first, second, r = limiters(), limiters(), rule(amount=4)
    await allowed(first, r, "alice", 3)

    assert await allowed(second, r, "alice", 5) == 1


@pytest.mark.parametrize("when_down", ["open", "closed"])
async def test_a_redis_that_does_not_answer_fails_open_or_closed_per_rule(when_down: str) -> None:
    # Port 1 on loopback: nothing listens, every connection is refused at once.
    limiter = LimitsRateLimiter(redis_storage(RedisEngine(RedisSettings(url=DOWN_URL))))
    r = rule(amount=1, when_down=when_down)

    if when_down == "open":
        assert await allowed(limiter, r, "alice", 3) == 3
        await limiter.check(r, "alice")
    else:
        with pytest.raises(Unavailable) as down:
            await limiter.hit(r, "alice")
        assert (down.value.status, down.value.code) == (503, "unavailable")
        assert "Redis" in down.value.detail
        assert "limits.t" in down.value.detail
        assert "Redis" not in down.value.message  # the client learns no internals


def test_a_rate_with_a_burst_becomes_a_window_that_keeps_the_average() -> None:
    assert Rule.rate("r", 50, 100, when_down="open", counts="x").amount == 100
    assert Rule.rate("r", 50, 100, when_down="open", counts="x").window_s == 2
    # A burst below one second's worth still allows the rate on average.
    low = Rule.rate("r", 50, 10, when_down="open", counts="x")
    assert (low.amount, low.window_s) == (50, 1)
    slow = Rule.rate("r", 0.5, 1, when_down="open", counts="x")
    assert (slow.amount, slow.window_s) == (1, 2)
    assert Rule.rate("r", 0, 10, when_down="open", counts="x").amount == 0
