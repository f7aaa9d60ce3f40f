"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from gomicroim.caching import Cache

#: Seconds from commit to push: sub-millisecond in process, up to seconds under load.
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


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
    """The process's counters, gauges and histograms, plus process figures (CPU, memory, fds)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._caches = _CacheCollector()
        self.registry.register(self._caches)
        # Process figures come from /proc, so one collector per registry is right even with
        # several apps in a process; GC and platform collectors are process-wide singletons.
        ProcessCollector(namespace="", registry=self.registry)
        self.registry.register(GC_COLLECTOR)
        self.registry.register(PLATFORM_COLLECTOR)
        self.http_requests = Counter(
            "gomicroim_http_requests_total",
            "HTTP requests by method, route template (or 'unmatched') and status as sent.",
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
        self.websocket_connections = Gauge(
            "gomicroim_websocket_connections",
            "Authenticated WebSocket connections open on this node.",
            registry=self.registry,
        )
        self.pushes = Counter(
            "gomicroim_pushes_delivered_total",
            "Frames (message and read events) written to WebSockets on this node.",
            registry=self.registry,
        )
        self.fanout_lag = Histogram(
            "gomicroim_fanout_lag_seconds",
            "From a message's commit to its pushes being handed to the gateway.",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "gomicroim_outbox_backlog",
            "Committed messages waiting in this process's relay to be published to fan-out.",
            registry=self.registry,
        )
        self.password_hashes = Gauge(
            "gomicroim_password_hashes_pending",
            "Password hashes running or waiting (bounded by identity.max_concurrent_hashes +"
            " identity.max_waiting_hashes).",
            registry=self.registry,
        )
        self.send_queue = Gauge(
            "gomicroim_send_queue_depth",
            "Sends waiting for the group commit (bounded by chat.max_pending_sends).",
            registry=self.registry,
        )
        self.bus_queued = Gauge(
            "gomicroim_bus_queued_batches",
            "Batches waiting in an in-process bus topic (at most 1024 each), by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.bus_dropped = Counter(
            "gomicroim_bus_dropped_total",
            "Items a full lossy in-process bus topic dropped (read events), by topic.",
            ["topic"],
            registry=self.registry,
        )
        self._bus_metrics()

    def _bus_metrics(self) -> None:
        self.bus_dead_letters = Counter(
            "gomicroim_bus_dead_letters_total",
            "Events moved to the dead-letter topic, by source topic and reason (undecodable, or"
            " failing after kafka.handle_attempts tries).",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.bus_retries = Counter(
            "gomicroim_bus_retries_total",
            "Handlings of a bus event tried again after the event's own failure, by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.bus_resends = Counter(
            "gomicroim_bus_resent_total",
            "Acknowledged events produced again because the broker lost them, by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.pushes_dropped = Counter(
            "gomicroim_push_dropped_total",
            "Push deliveries (push x device) a gateway node dropped from Kafka, by reason: stale,"
            " replayed, unknown_node, undecodable.",
            ["reason"],
            registry=self.registry,
        )

        self.push_outcomes = Counter(
            "gomicroim_push_notifications_total",
            "Offline-push webhook notifications by outcome: sent, retried (a try failed and"
            " another follows), failed (out of tries, or refused with a 4xx), dropped_full"
            " (push.queue_size reached; the oldest went), dropped_deadline (older than"
            " push.deadline_s).",
            ["outcome"],
            registry=self.registry,
        )
        self.push_queue = Gauge(
            "gomicroim_push_queue_depth",
            "Offline-push notifications (and messages awaiting their token lookup) queued.",
            registry=self.registry,
        )

    def push_notifications(self, outcome: str, count: int) -> None:
        """Count offline-push notifications that ended (or were retried) with ``outcome``."""
        self.push_outcomes.labels(outcome).inc(count)

    def watch_push_queue(self, count: Callable[[], int]) -> None:
        """Read the offline-push queue depth from ``count`` at every scrape."""
        self.push_queue.set_function(count)

    def bus_dead_lettered(self, topic: str, reason: str) -> None:
        """Count an event moved to the dead-letter topic."""
        self.bus_dead_letters.labels(topic, reason).inc()

    def bus_retried(self, topic: str) -> None:
        """Count a retried handling of a bus event."""
        self.bus_retries.labels(topic).inc()

    def bus_resent(self, topic: str, events: int) -> None:
        """Count events produced again after the broker lost them."""
        self.bus_resends.labels(topic).inc(events)

    def push_dropped(self, reason: str, deliveries: int) -> None:
        """Count push deliveries a gateway node dropped."""
        self.pushes_dropped.labels(reason).inc(deliveries)

    def watch_password_hashes(self, count: Callable[[], int]) -> None:
        """Read the hashes running or waiting from ``count`` at every scrape."""
        self.password_hashes.set_function(count)

    def watch_send_queue(self, count: Callable[[], int]) -> None:
        """Read the sends waiting for the group commit from ``count`` at every scrape."""
        self.send_queue.set_function(count)

    def watch_bus_topic(self, topic: str, count: Callable[[], int]) -> None:
        """Read the batches queued in bus ``topic`` from ``count`` at every scrape."""
        self.bus_queued.labels(topic).set_function(count)

    def bus_items_dropped(self, topic: str, items: int) -> None:
        """Count items a full lossy topic dropped."""
        self.bus_dropped.labels(topic).inc(items)

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

    def watch_connections(self, count: Callable[[], int]) -> None:
        """Read the number of open WebSockets from ``count`` at every scrape."""
        self.websocket_connections.set_function(count)

    def watch_outbox_backlog(self, count: Callable[[], int]) -> None:
        """Read the relay's backlog from ``count`` at every scrape."""
        self.outbox_backlog.set_function(count)

    def pushes_delivered(self, frames: int) -> None:
        """Count frames written to sockets."""
        if frames:
            self.pushes.inc(frames)

    def message_fanned_out(self, lag_s: float) -> None:
        """Record one committed message's commit-to-push lag."""
        self.fanout_lag.observe(max(0.0, lag_s))

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
