"""The in-process limiter storage stays bounded; the login rules resist lockout abuse."""

from __future__ import annotations

import time

import pytest

from gomicroim.config import LimitSettings
from gomicroim.errors import RateLimited
from gomicroim.http.abuse import AbuseLimits
from gomicroim.http.ratelimit import BoundedMemoryStorage, LimitsRateLimiter, Rule


def rule(amount: int, window_s: int = 60) -> Rule:
    return Rule(name="limits.t", amount=amount, window_s=window_s, when_down="open", counts="x")


async def test_the_memory_storage_forgets_the_oldest_keys_beyond_its_cap() -> None:
    storage = BoundedMemoryStorage(max_keys=100)
    limiter = LimitsRateLimiter(storage)

    for user in range(1000):
        await limiter.hit(rule(5), str(user))

    assert storage.keys == 100
    # The newest keys are the ones kept: user 999 has spent one of five.
    for _ in range(4):
        await limiter.hit(rule(5), "999")
    with pytest.raises(RateLimited):
        await limiter.hit(rule(5), "999")


async def test_a_sweep_looks_at_a_bounded_number_of_keys_and_drops_the_expired() -> None:
    storage = BoundedMemoryStorage(max_keys=1_000_000, sweep_interval_s=3600, sweep_budget=500)
    limiter = LimitsRateLimiter(storage)
    for user in range(5000):
        await limiter.hit(rule(5, window_s=1), str(user))
    kept = storage.keys

    # Every counter has expired (a sliding window keeps its key for two windows) ...
    for key in storage.expirations:
        storage.expirations[key] = time.time() - 1

    # ... and each sweep drops only its budget's worth, never all 5000 in one loop turn.
    assert storage.sweep() == 500
    assert storage.keys == kept - 500
    while storage.sweep():
        pass
    assert storage.keys == 0


async def test_a_limited_key_is_not_freed_by_other_keys_arriving() -> None:
    storage = BoundedMemoryStorage(max_keys=1000, sweep_interval_s=0)
    limiter = LimitsRateLimiter(storage)
    for _ in range(2):
        await limiter.hit(rule(2), "flooder")

    for user in range(500):
        await limiter.hit(rule(2), str(user))

    with pytest.raises(RateLimited):
        await limiter.hit(rule(2), "flooder")


def abuse(**limits: int) -> AbuseLimits:
    chosen = {
        "login_failures_per_ip_user": 3,
        "login_failures_per_user": 7,
        "login_attempts_per_ip": 100,
        **limits,
    }
    settings = LimitSettings(**chosen)  # type: ignore[arg-type]
    return AbuseLimits(LimitsRateLimiter(BoundedMemoryStorage(max_keys=10_000)), settings)


async def fail(limits: AbuseLimits, ip: str, username: str) -> bool:
    """One wrong password; False when the attempt was refused before verification."""
    try:
        await limits.login_attempt(ip, username)
    except RateLimited:
        return False
    await limits.login_failed(ip, username)
    return True


async def test_guessing_from_one_address_locks_only_that_address_out() -> None:
    limits = abuse()

    verified = [await fail(limits, "10.0.0.66", "alice") for _ in range(20)]

    assert verified.count(True) == 3
    with pytest.raises(RateLimited) as refused:
        await limits.login_attempt("10.0.0.66", "alice")
    assert "limits.login_failures_per_ip_user" in refused.value.message
    # Alice herself, from her own address, is not locked out by the attacker.
    await limits.login_attempt("192.0.2.10", "alice")


async def test_refused_attempts_do_not_count_towards_the_username_ceiling() -> None:
    limits = abuse()

    for _ in range(50):
        await fail(limits, "10.0.0.66", "alice")
    for _ in range(50):
        await fail(limits, "10.0.0.67", "alice")

    # Two addresses added 3 verified failures each: 6, under the ceiling of 7.
    await limits.login_attempt("192.0.2.10", "alice")


async def test_guessing_spread_over_many_addresses_reaches_the_username_ceiling() -> None:
    limits = abuse()

    for attacker in range(10):
        for _ in range(3):
            await fail(limits, f"10.0.1.{attacker}", "alice")

    with pytest.raises(RateLimited) as refused:
        await limits.login_attempt("192.0.2.10", "alice")
    assert "limits.login_failures_per_user" in refused.value.message
    await limits.login_attempt("192.0.2.10", "bob")


async def test_a_successful_login_forgives_that_address_its_typos() -> None:
    limits = abuse()
    for _ in range(2):
        await fail(limits, "192.0.2.10", "alice")

    await limits.login_attempt("192.0.2.10", "alice")
    await limits.login_succeeded("192.0.2.10", "alice")

    # Two more typos later are fine again: the earlier two were forgiven.
    assert [await fail(limits, "192.0.2.10", "alice") for _ in range(3)] == [True] * 3


async def test_login_attempts_per_address_count_successes_too() -> None:
    limits = abuse(login_attempts_per_ip=5)

    for user in range(5):
        await limits.login_attempt("10.0.0.1", f"user{user}")
        await limits.login_succeeded("10.0.0.1", f"user{user}")

    with pytest.raises(RateLimited) as refused:
        await limits.login_attempt("10.0.0.1", "user9")
    assert "limits.login_attempts_per_ip" in refused.value.message
