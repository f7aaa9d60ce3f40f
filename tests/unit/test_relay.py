"""Outbox relay: commit order, mark-after-publish, replay, stale scans, claims, a bounded buffer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.relay import OutboxRelay
from tests.fakes import FakeClock
from tests.fakes.outbox import MemoryOutboxStore, RecordingPublisher

STALE = 3000


def committed(seq: int, conversation: str = "s:1:2", at: int | None = None) -> MessageCommitted:
    message = MessageRead(
        conversation_id=conversation,
        seq=seq,
        sender_id=1,
        to=2,
        session_type="single",
        client_msg_id=f"c{seq}-{conversation}",
        msg_type="text",
        body=f"m{seq}",
        created_at=1000 + seq if at is None else at,
    )
    return MessageCommitted(message=message, sender_device_id="d1")


class CountingMetrics:
    def __init__(self) -> None:
        self.dropped = 0
        self.scanned: dict[str, int] = {}

    def relay_buffer_overflowed(self, dropped: int) -> None:
        self.dropped += dropped

    def relay_scanned(self, kind: str, records: int) -> None:
        self.scanned[kind] = self.scanned.get(kind, 0) + records

    def watch_outbox_backlog(self, count: Callable[[], int]) -> None:
        self.backlog = count


def relay_for(
    store: MemoryOutboxStore,
    publisher: RecordingPublisher,
    *,
    batch: int = 3,
    now: int = 5000,
    owner: str = "node-1",
    clock: FakeClock | None = None,
    max_buffer: int = 100,
    metrics: CountingMetrics | None = None,
) -> OutboxRelay:
    return OutboxRelay(
        store=store,
        publisher=publisher,
        owner=owner,
        batch_size=batch,
        retention_ms=1000,
        stale_ms=STALE,
        max_buffer=max_buffer,
        metrics=metrics,
        clock=clock or (lambda: now),
    )


def seqs(publisher: RecordingPublisher) -> list[int]:
    return [e.message.seq for e in publisher.published]


async def test_drain_publishes_everything_in_commit_order_and_marks_it() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    for seq in range(1, 8):
        store.add(committed(seq))
    relayed = await relay_for(store, publisher).drain()
    assert relayed == 7
    assert seqs(publisher) == [1, 2, 3, 4, 5, 6, 7]
    assert store.unpublished() == []


async def test_a_failed_publish_leaves_records_pending_and_the_next_drain_replays_them() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    for seq in range(1, 5):
        store.add(committed(seq))
    relay = relay_for(store, publisher)
    publisher.failures = 1
    with pytest.raises(ConnectionError):
        await relay.drain()
    assert [r.event.message.seq for r in store.unpublished()] == [1, 2, 3, 4]
    assert await relay.drain() == 4
    assert seqs(publisher) == [1, 2, 3, 4]


async def test_records_committed_while_the_relay_was_down_go_out_on_start() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    store.add(committed(1))
    store.add(committed(1, "g:9"))
    relay = relay_for(store, publisher)
    relay.start()
    await relay.stop(timeout_s=1.0)
    assert set(publisher.published_keys()) == {("s:1:2", 1), ("g:9", 1)}


async def test_prune_drops_only_records_published_before_the_cutoff() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    store.add(committed(1), owner="node-1", lease_ms=STALE)
    await relay_for(store, publisher, now=1000).drain()
    store.add(committed(2), owner="node-1", lease_ms=STALE)
    await relay_for(store, publisher, now=4000).drain()
    assert await store.prune(published_before_ms=2000) == 1
    assert [r.event.message.seq for r in store.records] == [2]


async def test_submitted_events_are_published_without_reading_the_table_and_marked_later() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher)
    await relay.drain()  # the start-up scan: nothing pending
    for seq in (1, 2, 3):
        store.add(committed(seq), owner="node-1", lease_ms=STALE)
        relay.submit([committed(seq)])
    assert await relay.drain() == 3
    assert seqs(publisher) == [1, 2, 3]
    assert len(store.unpublished()) == 3, "marks are coalesced, not written per event"
    await relay.flush_marks()
    assert store.unpublished() == []


async def test_a_failed_fast_publish_falls_back_to_the_table_in_order() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher)
    await relay.drain()
    store.add(committed(1), owner="node-1", lease_ms=STALE)
    relay.submit([committed(1)])
    publisher.failures = 1
    with pytest.raises(ConnectionError):
        await relay.drain()
    store.add(committed(2), owner="node-1", lease_ms=STALE)
    relay.submit([committed(2)])
    assert await relay.drain() == 2
    assert seqs(publisher) == [1, 2]
    assert store.unpublished() == []


# --- stale rows, claims and the bounded buffer ------------------------------------------------


async def test_a_row_nobody_handed_over_is_published_once_it_is_stale() -> None:
    # A send whose handover never happened (the process lost it): only the table knows.
    clock = FakeClock(10_000)
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    metrics = CountingMetrics()
    relay = relay_for(store, publisher, clock=clock, metrics=metrics)
    await relay.drain()  # start-up scan
    store.add(committed(1, at=clock.now), owner="node-1", lease_ms=STALE)

    clock.advance(STALE // 2)
    await relay.drain()
    assert publisher.published == [], "younger than outbox_stale_s: the fast path may yet come"

    clock.advance(STALE)
    assert await relay.drain() == 1
    assert seqs(publisher) == [1]
    assert store.unpublished() == []
    assert metrics.scanned == {"stale": 1}


async def test_a_live_replicas_rows_are_left_to_it_and_a_crashed_ones_are_taken_over() -> None:
    clock = FakeClock(10_000)
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher, clock=clock, owner="node-1")
    store.add(committed(1, at=clock.now), owner="node-2", lease_ms=STALE)
    store.add(committed(2, at=clock.now), owner="node-1", lease_ms=STALE)

    await relay.drain()  # full scan at start: this node's own rows, not node-2's live one
    assert seqs(publisher) == [2]

    clock.advance(STALE + 1)  # node-2 did not publish within its lease: it is gone
    await relay.drain()
    assert seqs(publisher) == [2, 1]
    assert store.unpublished() == []


async def test_a_relay_that_is_behind_renews_its_claims() -> None:
    clock = FakeClock(10_000)
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher, clock=clock, owner="node-1")
    await relay.drain()
    event = committed(1, at=clock.now)
    store.add(event, owner="node-1", lease_ms=STALE)
    relay.submit([event])

    clock.advance(STALE // 2)  # the event waited in the buffer for half the lease
    publisher.failures = 1
    with pytest.raises(ConnectionError):
        await relay.drain()

    clock.advance(STALE // 2 + 1)  # past the original lease, inside the renewed one
    taken = await store.claim(
        "node-2", now_ms=clock.now, lease_ms=STALE, created_before_ms=None, limit=10
    )
    assert taken == []


async def test_an_overflowing_buffer_falls_back_to_the_table_in_commit_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    metrics = CountingMetrics()
    relay = relay_for(store, publisher, max_buffer=3, metrics=metrics)
    await relay.drain()
    events = [committed(seq) for seq in range(1, 6)]
    with caplog.at_level(logging.WARNING, logger="gomicroim.relay"):
        for event in events:
            store.add(event, owner="node-1", lease_ms=STALE)
            relay.submit([event])

    assert await relay.drain() == 5
    assert seqs(publisher) == [1, 2, 3, 4, 5], "each once, in commit order"
    assert store.unpublished() == []
    assert metrics.dropped == 4
    assert metrics.scanned == {"full": 5}
    assert [r.message for r in caplog.records].count(
        "outbox relay buffer full; publishing from the table until it catches up"
    ) == 1


async def test_a_publish_cancelled_by_stop_is_replayed_from_the_table() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher)
    await relay.drain()
    store.add(committed(1), owner="node-1", lease_ms=STALE)
    relay.submit([committed(1)])
    publisher.gate = asyncio.Event()
    relay.start()
    await asyncio.sleep(0.01)  # the relay task is stuck publishing the event

    stopping = asyncio.create_task(relay.stop(timeout_s=5.0))
    await asyncio.sleep(0.01)  # stop cancelled that publish; its flush waits for the bus
    publisher.gate.set()
    await stopping

    assert seqs(publisher) == [1]
    assert store.unpublished() == []


async def test_the_backlog_metric_counts_committed_events_not_yet_published() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    metrics = CountingMetrics()
    relay = relay_for(store, publisher, metrics=metrics)
    await relay.drain()  # start-up scan
    events = [committed(seq) for seq in (1, 2, 3)]
    for event in events:
        store.add(event)
    relay.submit(events)
    assert metrics.backlog() == 3

    await relay.drain()
    assert seqs(publisher) == [1, 2, 3]
    assert metrics.backlog() == 0
