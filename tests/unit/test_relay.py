"""Outbox relay: commit order, mark-after-publish, replay after a failure, pruning."""

from __future__ import annotations

import pytest

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.relay import OutboxRelay
from tests.fakes.outbox import MemoryOutboxStore, RecordingPublisher


def committed(seq: int, conversation: str = "s:1:2") -> MessageCommitted:
    message = MessageRead(
        conversation_id=conversation,
        seq=seq,
        sender_id=1,
        to=2,
        session_type="single",
        client_msg_id=f"c{seq}-{conversation}",
        msg_type="text",
        body=f"m{seq}",
        created_at=1000 + seq,
    )
    return MessageCommitted(message=message, sender_device_id="d1")


def relay_for(
    store: MemoryOutboxStore, publisher: RecordingPublisher, *, batch: int = 3, now: int = 5000
) -> OutboxRelay:
    return OutboxRelay(
        store=store, publisher=publisher, batch_size=batch, retention_ms=1000, clock=lambda: now
    )


async def test_drain_publishes_everything_in_commit_order_and_marks_it() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    for seq in range(1, 8):
        store.add(committed(seq))
    relayed = await relay_for(store, publisher).drain()
    assert relayed == 7
    assert [e.message.seq for e in publisher.published] == [1, 2, 3, 4, 5, 6, 7]
    assert await store.pending(100) == []


async def test_a_failed_publish_leaves_records_pending_and_the_next_drain_replays_them() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    for seq in range(1, 5):
        store.add(committed(seq))
    relay = relay_for(store, publisher)
    publisher.failures = 1
    with pytest.raises(ConnectionError):
        await relay.drain()
    assert [r.event.message.seq for r in await store.pending(100)] == [1, 2, 3, 4]
    assert await relay.drain() == 4
    assert [e.message.seq for e in publisher.published] == [1, 2, 3, 4]


async def test_records_committed_while_the_relay_was_down_go_out_on_start() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    store.add(committed(1))
    store.add(committed(1, "g:9"))
    relay = relay_for(store, publisher)
    relay.start()
    await relay.stop(timeout_s=1.0)
    assert {(e.message.conversation_id, e.message.seq) for e in publisher.published} == {
        ("s:1:2", 1),
        ("g:9", 1),
    }


async def test_prune_drops_only_records_published_before_the_cutoff() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    store.add(committed(1))
    await relay_for(store, publisher, now=1000).drain()
    store.add(committed(2))
    await relay_for(store, publisher, now=4000).drain()
    assert await store.prune(published_before_ms=2000) == 1
    assert [r.event.message.seq for r in store.records] == [2]


async def test_submitted_events_are_published_without_reading_the_table_and_marked_later() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher)
    await relay.drain()  # the start-up scan: nothing pending
    for seq in (1, 2, 3):
        store.add(committed(seq))
        relay.submit(committed(seq))
    assert await relay.drain() == 3
    assert [e.message.seq for e in publisher.published] == [1, 2, 3]
    assert len(await store.pending(100)) == 3, "marks are coalesced, not written per event"
    await relay.flush_marks()
    assert await store.pending(100) == []


async def test_a_failed_fast_publish_falls_back_to_the_table_in_order() -> None:
    store, publisher = MemoryOutboxStore(), RecordingPublisher()
    relay = relay_for(store, publisher)
    await relay.drain()
    store.add(committed(1))
    relay.submit(committed(1))
    publisher.failures = 1
    with pytest.raises(ConnectionError):
        await relay.drain()
    store.add(committed(2))
    relay.submit(committed(2))
    assert await relay.drain() == 2
    assert [e.message.seq for e in publisher.published] == [1, 2]
    assert await store.pending(100) == []
