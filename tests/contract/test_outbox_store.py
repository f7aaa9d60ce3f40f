"""Contract of chat's ``OutboxStore``: what the send transaction wrote, claimed by relays."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from gomicroim.clock import now_ms
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import ChatStore, CommitListener, MessageDraft, OutboxStore
from gomicroim.modules.chat.relay import OutboxRelay
from gomicroim.modules.chat.storage import SqlChatStore
from gomicroim.modules.chat.storage.outbox import SqlOutboxStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryChatStore, MemoryOutboxStore
from tests.fakes.outbox import RecordingPublisher

NOW = 1_700_000_000_000
GROUP = "g:5"
LEASE = 5000
OWNER = "node-a"
SQL_ONLY = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)


@pytest.fixture
def stores(backend: Backend) -> tuple[ChatStore, OutboxStore]:
    """A chat store of node ``OWNER`` whose appends land in the outbox store under test."""
    if backend.sql:
        return SqlChatStore(owner=OWNER, lease_ms=LEASE), SqlOutboxStore()
    outbox = MemoryOutboxStore()
    return MemoryChatStore(outbox_store=outbox, owner=OWNER, lease_ms=LEASE), outbox


@pytest.fixture
def outbox(stores: tuple[ChatStore, OutboxStore]) -> OutboxStore:
    return stores[1]


def group_draft(i: int, sender: int = 1, at: int = NOW) -> MessageDraft:
    return MessageDraft(
        conversation_id=GROUP,
        session_type="group",
        sender_id=sender,
        sender_device_id="dev",
        to=5,
        client_msg_id=f"{sender}-{i}",
        msg_type="text",
        body=f"m{i}",
        created_at=at + i,
    )


async def send(stores: tuple[ChatStore, OutboxStore], n: int, sender: int = 1) -> list[MessageRead]:
    chat = stores[0]
    await chat.ensure_conversation(GROUP, "group", set(), NOW)
    return [await chat.append(group_draft(i, sender)) for i in range(n)]


async def claim(
    outbox: OutboxStore,
    owner: str = OWNER,
    *,
    at: int = NOW,
    limit: int = 100,
    created_before: int | None = None,
) -> list[int]:
    """Seqs ``owner`` claims at time ``at``."""
    records = await outbox.claim(
        owner, now_ms=at, lease_ms=LEASE, created_before_ms=created_before, limit=limit
    )
    return [r.event.message.seq for r in records]


async def test_claim_lists_committed_messages_in_commit_order(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    messages = await send(stores, 5)

    records = await outbox.claim(
        OWNER, now_ms=NOW, lease_ms=LEASE, created_before_ms=None, limit=100
    )

    assert [r.event for r in records] == [
        MessageCommitted(message=m, sender_device_id="dev") for m in messages
    ]
    ids = [r.id for r in records]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


async def test_claim_honours_the_limit(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 5)

    assert await claim(outbox, limit=2) == [1, 2]


async def test_published_records_are_no_longer_claimed(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 4)
    first_two = [
        r.id
        for r in await outbox.claim(
            OWNER, now_ms=NOW, lease_ms=LEASE, created_before_ms=None, limit=2
        )
    ]

    await outbox.mark_published(first_two, NOW)
    await outbox.mark_published([], NOW)

    assert await claim(outbox) == [3, 4]
    assert await claim(outbox, "node-b", at=NOW + 10 * LEASE) == [3, 4]


async def test_records_are_the_committing_nodes_until_its_lease_runs_out(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 3)

    assert await claim(outbox, "node-b", at=NOW + LEASE // 2) == []
    assert await claim(outbox, "node-b", at=NOW + LEASE + 10) == [1, 2, 3]
    # Now node-b holds them for a lease: the original node cannot take them back meanwhile.
    assert await claim(outbox, OWNER, at=NOW + LEASE + 20) == []
    assert await claim(outbox, "node-b", at=NOW + LEASE + 30) == [1, 2, 3]


async def test_claim_can_be_limited_to_records_created_before_a_time(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 4)  # created at NOW + 0..3

    assert await claim(outbox, created_before=NOW + 2) == [1, 2]


async def test_renew_keeps_other_nodes_off_a_slow_nodes_records(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 2)

    held = await outbox.renew(OWNER, now_ms=NOW + LEASE - 100, lease_ms=LEASE)

    assert held == 2
    assert await claim(outbox, "node-b", at=NOW + LEASE + 100) == []
    assert await claim(outbox, "node-b", at=NOW + 2 * LEASE) == [1, 2]
    assert await outbox.renew(OWNER, now_ms=NOW + 2 * LEASE, lease_ms=LEASE) == 0


async def test_concurrent_claims_never_hand_one_record_to_two_nodes(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 40)
    later = NOW + 2 * LEASE

    claimed = await asyncio.gather(
        *(claim(outbox, f"node-{i}", at=later, limit=7) for i in range(8))
    )

    every = [seq for seqs in claimed for seq in seqs]
    assert len(every) == len(set(every)), "no record claimed by two nodes"
    # What nobody got is still free; what somebody got is not.
    rest = await claim(outbox, "node-late", at=later + 1)
    assert sorted(every + rest) == list(range(1, 41))


async def test_prune_deletes_only_records_published_before_the_cutoff(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 4)
    ids = [
        r.id
        for r in await outbox.claim(
            OWNER, now_ms=NOW, lease_ms=LEASE, created_before_ms=None, limit=100
        )
    ]
    await outbox.mark_published(ids[:1], NOW)
    await outbox.mark_published(ids[1:2], NOW + 100)

    assert await outbox.prune(NOW + 100) == 1
    assert await outbox.prune(NOW + 100) == 0

    # Unpublished records are never pruned, however old.
    assert await outbox.prune(NOW + 10**9) == 1
    assert await claim(outbox) == [3, 4]


async def test_concurrent_sends_reach_the_outbox_in_seq_order(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    await send(stores, 0)

    await asyncio.gather(*(send(stores, 5, sender=s) for s in range(1, 7)))

    assert await claim(outbox) == list(range(1, 31))


async def test_marking_by_conversation_and_seq_hides_exactly_those_records(
    stores: tuple[ChatStore, OutboxStore], outbox: OutboxStore
) -> None:
    messages = await send(stores, 4)

    await outbox.mark_published_keys([(GROUP, messages[0].seq), (GROUP, messages[2].seq)], NOW)
    await outbox.mark_published_keys([(GROUP, messages[0].seq), ("g:404", 1)], NOW + 1)

    assert await claim(outbox) == [messages[1].seq, messages[3].seq]


@SQL_ONLY
async def test_a_record_written_before_claims_and_schema_versions_still_relays(
    backend: Backend, outbox: OutboxStore
) -> None:
    # Exactly what the previous release wrote: no claim columns set, no schema_version.
    old_payload = (
        '{"message":{"conversation_id":"g:5","seq":1,"sender_id":1,"to":5,'
        '"session_type":"group","client_msg_id":"old-1","msg_type":"text","body":"from v1",'
        '"created_at":1700000000000},"sender_device_id":"dev"}'
    )
    await backend.query(
        "INSERT INTO chat_outbox (conversation_id, seq, payload, created_at) "  # noqa: S608 - constants
        f"VALUES ('g:5', 1, '{old_payload}', {NOW})"
    )

    (record,) = await outbox.claim(
        "any-node", now_ms=NOW, lease_ms=LEASE, created_before_ms=None, limit=10
    )

    assert record.event.message.body == "from v1"
    assert record.event.schema_version == 1


# --- relays of several replicas on one database ---------------------------------------------


class Replica:
    """One node's chat store and relay over the shared database, publishing to its own bus."""

    def __init__(self, owner: str, *, stale_ms: int) -> None:
        self.owner = owner
        self.bus = RecordingPublisher()
        self.relay = OutboxRelay(
            store=SqlOutboxStore(),
            publisher=self.bus,
            owner=owner,
            batch_size=50,
            retention_ms=3_600_000,
            stale_ms=stale_ms,
            poll_interval_s=0.05,
            mark_interval_s=0.05,
        )
        listener: CommitListener = self.relay.submit
        self.chat = SqlChatStore(on_commit=listener, owner=owner, lease_ms=stale_ms)

    async def send(self, n: int, conversation: int) -> list[MessageRead]:
        at = now_ms()
        cid = f"g:{conversation}"
        await self.chat.ensure_conversation(cid, "group", set(), at)
        drafts = [
            MessageDraft(
                conversation_id=cid,
                session_type="group",
                sender_id=conversation,
                sender_device_id=self.owner,
                to=conversation,
                client_msg_id=f"{self.owner}-{conversation}-{i}",
                msg_type="text",
                body="hi",
                created_at=at,
            )
            for i in range(n)
        ]
        return list(await asyncio.gather(*(self.chat.append(d) for d in drafts)))


async def unpublished(backend: Backend) -> int:
    rows = await backend.query("SELECT COUNT(*) AS n FROM chat_outbox WHERE published_at IS NULL")
    return int(rows[0]["n"])


async def until_all_published(backend: Backend, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await unpublished(backend):
        assert time.monotonic() < deadline, f"{await unpublished(backend)} rows stranded"
        await asyncio.sleep(0.05)


def keys(messages: list[MessageRead]) -> list[tuple[str, int]]:
    return [(m.conversation_id, m.seq) for m in messages]


@SQL_ONLY
async def test_two_relays_publish_every_row_once_in_the_normal_case(backend: Backend) -> None:
    a, b = Replica("node-a", stale_ms=5000), Replica("node-b", stale_ms=5000)
    a.relay.start()
    b.relay.start()
    try:
        sent = await asyncio.gather(
            *(replica.send(20, conversation) for replica in (a, b) for conversation in (1, 2, 3))
        )
        await until_all_published(backend)
    finally:
        await a.relay.stop(5)
        await b.relay.stop(5)

    stored = [key for batch in sent for key in keys(batch)]
    published = a.bus.published_keys() + b.bus.published_keys()
    assert Counter(published) == Counter(stored), "every row once, across both relays"
    assert set(a.bus.published_keys()) == {k for batch in sent[:3] for k in keys(batch)}
    # Each relay keeps its conversation's seq order.
    for bus in (a.bus, b.bus):
        for conversation in ("g:1", "g:2", "g:3"):
            seqs = [seq for cid, seq in bus.published_keys() if cid == conversation]
            assert seqs == sorted(seqs)


@SQL_ONLY
async def test_a_crashed_replicas_rows_are_published_by_the_other(backend: Backend) -> None:
    # node-a commits 30 sends and dies before its relay published any of them; node-b runs on.
    a, b = Replica("node-a", stale_ms=400), Replica("node-b", stale_ms=400)
    b.relay.start()
    try:
        lost = await a.send(30, 1)
        survived = await b.send(10, 2)
        await until_all_published(backend)
    finally:
        await b.relay.stop(5)

    assert a.bus.published == []
    assert Counter(b.bus.published_keys()) == Counter(keys(lost) + keys(survived)), (
        "each once, none lost"
    )
    assert [seq for cid, seq in b.bus.published_keys() if cid == "g:1"] == list(range(1, 31))


@SQL_ONLY
async def test_duplicates_arise_only_from_a_crash_between_publish_and_mark(
    backend: Backend,
) -> None:
    a, b = Replica("node-a", stale_ms=400), Replica("node-b", stale_ms=400)
    await a.relay.drain()  # node-a's start-up scan
    sent = await a.send(10, 1)
    await a.relay.drain()  # node-a publishes its ten from memory ... and dies before marking
    assert a.bus.published_keys() == keys(sent)

    b.relay.start()
    try:
        await until_all_published(backend)
    finally:
        await b.relay.stop(5)

    assert b.bus.published_keys() == keys(sent), "the unmarked rows go out again, once, in order"
