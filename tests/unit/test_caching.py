"""Bounded caches: size bounds, expiry, versioned invalidation, and what /metrics shows of them."""

from __future__ import annotations

import asyncio

from gomicroim.caching import Cache
from gomicroim.infra.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_entry_goes_first_at_the_bound() -> None:
    cache: Cache[int, str] = Cache("c", max_size=2)
    cache.put(1, "a")
    cache.put(2, "b")
    cache.get(1)

    cache.put(3, "c")

    assert (cache.get(1), cache.get(2), cache.get(3)) == ("a", None, "c")
    assert cache.evictions == 1
    assert len(cache) == 2


def test_a_weighted_bound_counts_the_values_not_the_entries() -> None:
    cache: Cache[int, frozenset[int]] = Cache("sets", max_size=10, weigh=len)
    cache.put(1, frozenset(range(6)))
    cache.put(2, frozenset(range(6)))

    assert cache.get(1) is None
    assert cache.get(2) is not None
    assert cache.size == 6
    cache.put(3, frozenset(range(11)))  # heavier than the whole cache: not kept
    assert cache.get(3) is None
    assert cache.get(2) is not None


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache: Cache[int, str] = Cache("c", max_size=10, ttl_s=5, timer=clock)
    cache.put(1, "a")

    clock.now = 4.9
    kept = cache.get(1)
    clock.now = 5.1

    assert kept == "a"
    assert cache.get(1) is None


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache: Cache[int, str] = Cache("c", max_size=10, ttl_s=0)
    cache.put(1, "a")

    assert cache.get(1) is None


def test_a_value_loaded_before_an_invalidation_is_not_written_back() -> None:
    cache: Cache[int, str] = Cache("c", max_size=10)
    since = cache.version
    cache.invalidate(1)

    cache.put(1, "stale", since=since)
    cache.put(2, "other key, unaffected", since=since)

    assert cache.get(1) is None
    assert cache.get(2) == "other key, unaffected"


def test_invalidations_are_remembered_even_when_many_keys_were_invalidated() -> None:
    cache: Cache[int, str] = Cache("c", max_size=10)
    since = cache.version
    for key in range(10_000):
        cache.invalidate(key)

    cache.put(0, "stale", since=since)
    cache.put(9_999, "stale", since=since)

    assert cache.get(0) is None
    assert cache.get(9_999) is None


def test_clear_stops_every_earlier_load_from_writing() -> None:
    cache: Cache[int, str] = Cache("c", max_size=10)
    cache.put(1, "a")
    since = cache.version
    cache.clear()

    cache.put(2, "stale", since=since)

    assert (cache.get(1), cache.get(2)) == (None, None)


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache: Cache[int, str] = Cache("c", max_size=10)
    gate = asyncio.Event()
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("database down")

    waiters = [asyncio.create_task(cache.get_or_load(1, load)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)

    assert calls == 1
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.get(1) is None


async def test_metrics_show_each_caches_size_bound_and_counters() -> None:
    metrics = Metrics()
    cache: Cache[int, str] = Cache("groups_members", max_size=2, stats=metrics)
    for key in range(3):
        cache.put(key, "v")
    cache.get(2)
    cache.get(0)
    cache.invalidate(2)

    text = metrics.render().decode()

    assert 'gomicroim_cache_size{cache="groups_members"} 1.0' in text
    assert 'gomicroim_cache_max_size{cache="groups_members"} 2.0' in text
    assert 'gomicroim_cache_hits_total{cache="groups_members"} 1.0' in text
    assert 'gomicroim_cache_misses_total{cache="groups_members"} 1.0' in text
    assert 'gomicroim_cache_evictions_total{cache="groups_members"} 1.0' in text
    assert 'gomicroim_cache_invalidations_total{cache="groups_members"} 1.0' in text
