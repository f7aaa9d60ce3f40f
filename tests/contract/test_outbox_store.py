"""Contract of chat's ``OutboxStore``: what the send transaction wrote, for the relay."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import ChatStore, MessageDraft, OutboxStore
from gomicroim.modules.chat.storage import SqlChatStore, SqlOutboxStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryChatStore, MemoryOutboxStore

NOW = 1_700_000_000_000
GROUP = "g:5"


@pytest.fixture
def stores(backend: Backend) -> tuple[ChatStore, OutboxStore]:
    """A chat store whose appends land in the outbox store under test."""
    if backend.sql:
        return SqlChatStore(), SqlOutboxStore()
    outbox = MemoryOutboxStore()
    return MemoryChatStore(outbox_store=outbox), outbox


@pytest.fixture
def outbox(stores: tuple[ChatStore, OutboxStore]) -> OutboxStore:
    return stores[1]


async def send(stores: tuple[ChatStore, OutboxStore], n: int, sender: int = 1) -> list[MessageRead]:
    chat = stores[0]
    await chat.ensure_conversation(GROUP, "group", set(), NOW)
    return [
        await chat.append(
            MessageDraft(
                conversation_id=GROUP,
                session_type="group",
                sender_id=sender,
                sender_device_id="dev",
                to=5,
                client_msg_id=f"{sender}-{i}",
                msg_type="text",
                body=f"m{i}",
                created_at=NOW + i,
            )
        )
        for i in range(n)
    ]


async def test_pending_lists_committed_messages_in_commit_order(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    messages = await send(stores, 5)

    pending = await outbox.pending(100)

    assert [r.event for r in pending] == [
        MessageCommitted(message=m, sender_device_id="dev") for m in messages
    ]
    ids = [r.id for r in pending]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


async def test_pending_honours_the_limit(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 5)

    assert [r.event.message.seq for r in await outbox.pending(2)] == [1, 2]


async def test_published_records_are_no_longer_pending(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 4)
    first_two = [r.id for r in await outbox.pending(2)]

    await outbox.mark_published(first_two, NOW)
    await outbox.mark_published([], NOW)

    assert [r.event.message.seq for r in await outbox.pending(100)] == [3, 4]


async def test_prune_deletes_only_records_published_before_the_cutoff(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 4)
    ids = [r.id for r in await outbox.pending(100)]
    await outbox.mark_published(ids[:1], NOW)
    await outbox.mark_published(ids[1:2], NOW + 100)

    assert await outbox.prune(NOW + 100) == 1
    assert await outbox.prune(NOW + 100) == 0

    # Unpublished records are never pruned, however old.
    assert await outbox.prune(NOW + 10**9) == 1
    assert [r.event.message.seq for r in await outbox.pending(100)] == [3, 4]


async def test_concurrent_sends_reach_the_outbox_in_seq_order(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 0)

    await asyncio.gather(*(send(stores, 5, sender=s) for s in range(1, 7)))

    assert [r.event.message.seq for r in await outbox.pending(100)] == list(range(1, 31))


async def test_marking_by_conversation_and_seq_hides_exactly_those_records(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    messages = await send(stores, 4)

    await outbox.mark_published_keys([(GROUP, messages[0].seq), (GROUP, messages[2].seq)], NOW)
    await outbox.mark_published_keys([(GROUP, messages[0].seq), ("g:404", 1)], NOW + 1)

    assert [r.event.message.seq for r in await outbox.pending(100)] == [
        messages[1].seq,
        messages[3].seq,
    ]
