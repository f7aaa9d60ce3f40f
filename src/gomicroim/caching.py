"""Bounded caches for facts other modules ask for on every message, coherent under invalidation.

A :class:`Cache` is an LRU map (with a TTL when one is given) over ``cachetools``. It adds
what the services need on top:

* invalidation by version: a value loaded from storage is written only if no
  :meth:`Cache.invalidate` of its key (or :meth:`Cache.clear`) happened since the load began,
  so a load racing a write never re-caches what the write just changed;
* a single flight per key (:meth:`Cache.get_or_load`): concurrent misses share one load,
  which runs in its own task, so a caller that is cancelled cancels only its own wait;
* counters and sizes that :class:`gomicroim.infra.metrics.Metrics` exports.

In the embedded shape the owning service invalidates on its own writes, so entries are exact.
With replicas, writes on other processes arrive as invalidation events over Redis; the TTL is
the backstop for an event that was lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from cachetools import LRUCache, TTLCache

from gomicroim.errors import Unavailable

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

log = logging.getLogger("gomicroim.cache")

#: How many recent invalidations are remembered by key; older ones fold into one floor.
_STAMPS_KEPT = 4096


class CacheStats(Protocol):
    """Where caches report themselves for export (the process's metrics)."""

    def track(self, cache: Cache[Any, Any]) -> None:
        """Export ``cache``'s size and counters from now on."""
        ...


class Invalidations(Protocol[T]):
    """Tells every process's caches that an entry changed (in process, or over Redis)."""

    async def publish(self, event: T) -> None:
        """Deliver ``event`` to every subscriber, this process's before it returns."""
        ...

    def subscribe(self, handler: Callable[[T], Awaitable[None]]) -> None:
        """Call ``handler`` for every event published from now on, here or elsewhere."""
        ...

    def on_gap(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Call ``handler`` when events may have been missed (a broker reconnect)."""
        ...


class _CountingLru(LRUCache[K, V]):
    evicted = 0

    def popitem(self) -> tuple[K, V]:
        self.evicted += 1
        return super().popitem()


class _CountingTtl(TTLCache[K, V]):
    evicted = 0

    def popitem(self) -> tuple[K, V]:
        self.evicted += 1
        return super().popitem()


class _Stamps(LRUCache[Any, int]):
    """Key → version of its last invalidation; a forgotten key counts as of ``floor``."""

    floor = 0

    def popitem(self) -> tuple[Any, int]:
        key, stamp = super().popitem()
        self.floor = max(self.floor, stamp)
        return key, stamp


class Cache(Generic[K, V]):
    """A bounded LRU (TTL) cache with versioned invalidation and single-flight loads.

    Args:
        name: how metrics label it, e.g. ``"groups_members"``.
        max_size: the bound: entries, or the sum of ``weigh(value)`` when ``weigh`` is given.
        ttl_s: seconds an entry lives; ``None`` for no expiry, ``<= 0`` to cache nothing.
        weigh: the cost of one value against ``max_size`` (e.g. a member set's size).
        stats: where to export size and counters.
        timer: the clock of the TTL (seconds, monotonic).
    """

    def __init__(
        self,
        name: str,
        *,
        max_size: int,
        ttl_s: float | None = None,
        weigh: Callable[[V], int] | None = None,
        stats: CacheStats | None = None,
        timer: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self._enabled = ttl_s is None or ttl_s > 0
        sizeof = (lambda value: max(1, weigh(value))) if weigh else None
        self._map: _CountingLru[K, V] | _CountingTtl[K, V]
        if ttl_s is None:
            self._map = _CountingLru(max_size, getsizeof=sizeof)
        else:
            self._map = _CountingTtl(max_size, max(ttl_s, 1e-9), timer=timer, getsizeof=sizeof)
        self._version = 0
        self._stamps = _Stamps(_STAMPS_KEPT)
        self._flights: dict[K, asyncio.Task[V]] = {}
        if stats is not None:
            stats.track(self)

    @property
    def evictions(self) -> int:
        """Entries pushed out by the size bound so far."""
        return self._map.evicted

    @property
    def size(self) -> int:
        """The current size against ``max_size`` (entries, or their summed weight)."""
        return int(self._map.currsize)

    def __len__(self) -> int:
        return len(self._map)

    @property
    def version(self) -> int:
        """Take this before loading; pass it to :meth:`put` as ``since``."""
        return self._version

    def get(self, key: K) -> V | None:
        """The cached value, or None when absent or expired."""
        value = self._map.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: K, value: V, *, since: int | None = None) -> None:
        """Remember ``value``, unless ``key`` was invalidated after version ``since``.

        A value too heavy for the whole cache is not kept.
        """
        if not self._enabled:
            return
        if since is not None and self._stamps.get(key, self._stamps.floor) > since:
            return
        try:
            self._map[key] = value
        except ValueError:
            return

    def invalidate(self, key: K) -> None:
        """Drop ``key``; loads of it that began before now will not write it back."""
        self._version += 1
        self._stamps[key] = self._version
        self._map.pop(key, None)
        # A later caller must not join a load that may have read the old state.
        self._flights.pop(key, None)
        self.invalidations += 1

    def clear(self) -> None:
        """Drop everything (e.g. after invalidation events may have been lost)."""
        self._version += 1
        self._stamps.clear()
        self._stamps.floor = self._version
        self._map.clear()
        self._flights.clear()
        self.invalidations += 1

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else the result of one shared ``load()`` that is then cached.

        The load runs in a task of its own: cancelling a caller cancels only that caller's
        wait; the others, and the cache, still get the result. An exception reaches every
        caller of that flight and is not cached.
        """
        value = self.get(key)
        if value is not None:
            return value
        return await self.load(key, load)

    async def load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """Like :meth:`get_or_load`, without looking at the cached value first.

        For a caller that found the cached value wanting (it may be stale): it joins a load
        already under way, or starts one.
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(
                self._load(key, load, self._version), name=f"cache-load-{self.name}"
            )
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        return await asyncio.shield(flight)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], since: int) -> V:
        value = await load()
        self.put(key, value, since=since)
        return value

    def _landed(self, key: K, flight: asyncio.Task[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled() and flight.exception() is not None:
            # Retrieved here, so a flight whose callers all left logs no "never retrieved".
            log.debug("cache load failed", extra={"cache": self.name})


async def invalidate_everywhere(
    cache: Cache[K, Any], key: K, events: Invalidations[T] | None, event: T
) -> None:
    """Drop ``key`` from ``cache`` here, then announce ``event`` to the other processes.

    The write that changed the entry has committed: a broker that is down does not undo it.
    It is logged; the other processes drop their caches wholesale when they reconnect, and
    their TTL bounds the staleness until then.
    """
    cache.invalidate(key)
    if events is None:
        return
    try:
        await events.publish(event)
    except Unavailable as exc:
        log.warning("invalidation not broadcast", extra={"cache": cache.name, "error": exc.message})
