"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gomicroim.caching import Cache


class _CacheCollector:
    """Reads the tracked caches at scrape time, so a cache hit costs no metrics call."""

    def __init__(self) -> None:
        self.caches: list[Cache[Any, Any]] = []

    def collect(self) -> Iterator[Any]:
        size = GaugeMetricFamily(
            "gomicroim_cache_size",
            "Current size of each cache (entries, or member ids for member sets).",
            labels=["cache"],
        )
        bound = GaugeMetricFamily(
            "gomicroim_cache_max_size", "The size bound of each cache.", labels=["cache"]
        )
        counters = {
            name: CounterMetricFamily(f"gomicroim_cache_{name}", text, labels=["cache"])
            for name, text in (
                ("hits", "Lookups answered from the cache."),
                ("misses", "Lookups the cache could not answer."),
                ("evictions", "Entries pushed out by the size bound."),
                ("invalidations", "Entries (or whole caches) dropped after a change."),
            )
        }
        for cache in self.caches:
            size.add_metric([cache.name], cache.size)
            bound.add_metric([cache.name], cache.max_size)
            for name, family in counters.items():
                family.add_metric([cache.name], getattr(cache, name))
        yield size
        yield bound
        yield from counters.values()


class Metrics:
    """The process's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._caches = _CacheCollector()
        self.registry.register(self._caches)
        self.http_requests = Counter(
            "gomicroim_http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "gomicroim_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.messages_sent = Counter(
            "gomicroim_messages_sent_total",
            "Messages stored, by session type (idempotent replays are not counted).",
            ["session_type"],
            registry=self.registry,
        )
        self.messages_deduplicated = Counter(
            "gomicroim_messages_deduplicated_total",
            "Sends answered with an already stored message (same client_msg_id).",
            registry=self.registry,
        )
        self.relay_overflows = Counter(
            "gomicroim_outbox_buffer_dropped_total",
            "Committed events the relay's full in-memory buffer dropped; the outbox table scan"
            " publishes them.",
            registry=self.registry,
        )
        self.relay_scanned_records = Counter(
            "gomicroim_outbox_scanned_total",
            "Outbox records published by a table scan, by kind: full (start, after a failure or"
            " an overflow) or stale (unpublished past fanout.outbox_stale_s).",
            ["kind"],
            registry=self.registry,
        )

    def relay_buffer_overflowed(self, dropped: int) -> None:
        """Count events the relay dropped from memory (they go out by the table scan)."""
        self.relay_overflows.inc(dropped)

    def relay_scanned(self, kind: str, records: int) -> None:
        """Count outbox records a relay table scan published."""
        self.relay_scanned_records.labels(kind).inc(records)

    def message_stored(self, session_type: str) -> None:
        """Count a newly stored message."""
        self.messages_sent.labels(session_type).inc()

    def message_deduplicated(self) -> None:
        """Count a send answered with an already stored message."""
        self.messages_deduplicated.inc()

    def track(self, cache: Cache[Any, Any]) -> None:
        """Export ``cache``'s size and counters (``gomicroim_cache_*{cache=...}``)."""
        self._caches.caches.append(cache)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
