"""A small time-bounded cache for facts other modules ask for on every message."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Entries live ``ttl_s`` seconds; the whole cache is dropped past ``max_entries``.

    In the embedded shape the owning service invalidates on its own writes, so entries are
    exact; the TTL bounds how stale they can be when other processes write (replicas).
    """

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The cached value, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry[0] > self._ttl_s:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` from now on."""
        if self._ttl_s <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (self._clock(), value)

    def forget(self, key: K) -> None:
        """Drop one entry (after a write that changes it)."""
        self._entries.pop(key, None)
