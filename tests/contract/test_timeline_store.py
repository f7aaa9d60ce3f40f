"""Contract of timeline's ``TimelineStore``: user seqs, idempotency, concurrency, sync, expiry."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage, TimelineEntry
from gomicroim.modules.timeline.ports import TimelineStore
from gomicroim.modules.timeline.storage import SqlTimelineStore
from gomicroim.modules.timeline.storage.mongo import MongoTimelineStore
from tests.contract.conftest import BACKENDS, Backend, open_backend
from tests.contract.mongo import mongo_timeline
from tests.fakes.mongo_timeline import MemoryTimelineCollections
from tests.fakes.timeline import MemoryTimelineStore

NOW = 1_700_000_000_000
DAY = 24 * 3600 * 1000
A, B, C = 1, 2, 3
MAX_ID = 2**53 - 1

#: The MongoDB store's seq logic on the in-memory collection layer (no server), then on the
#: server at GOMICROIM_TEST_MONGO_URL: as the server allows (transactions on a replica set),
#: and forced onto the high-water path a standalone server gets.
MONGO_BACKENDS = [
    "mongo-memory",
    pytest.param("mongo", marks=pytest.mark.mongo),
    pytest.param("mongo-leases", marks=pytest.mark.mongo),
]


@pytest.fixture(params=[*BACKENDS, *MONGO_BACKENDS])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param.startswith("mongo"):
        yield Backend(request.param)
        return
    async with open_backend(request.param, request, tmp_path) as opened:
        yield opened


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[TimelineStore]:
    if backend.name == "memory":
        yield MemoryTimelineStore()
    elif backend.name == "mongo-memory":
        yield MongoTimelineStore(collections=MemoryTimelineCollections())
    elif backend.name.startswith("mongo"):
        leases = backend.name == "mongo-leases"
        async with mongo_timeline(transactions=False if leases else None) as mongo:
            yield mongo
    else:
        # Small batches and IN lists, so that pruning a handful of entries already takes
        # several statements and a 30-user append locks its cursors in several chunks.
        yield SqlTimelineStore(prune_batch=4, max_in_list=8)


def message(
    seq: int,
    *,
    conversation_id: str = "g:7",
    body: str = "hi",
    at: int = NOW,
) -> MessageRead:
    return MessageRead(
        conversation_id=conversation_id,
        seq=seq,
        sender_id=A,
        to=7 if conversation_id.startswith("g:") else B,
        session_type="group" if conversation_id.startswith("g:") else "single",
        client_msg_id=f"c-{conversation_id}-{seq}",
        msg_type="text",
        body=body,
        created_at=at,
    )


async def user_seqs(store: TimelineStore, user_id: int) -> list[int]:
    page = await store.sync(user_id, 0, 10_000)
    return [e.user_seq for e in page.entries]


# --- append and user seqs ---------------------------------------------------------------------


async def test_first_append_gives_every_user_seq_one(store: TimelineStore) -> None:
    assert await store.append(message(1), {A, B, C}) == {A: 1, B: 1, C: 1}


async def test_user_seqs_increase_by_one_per_message_in_each_timeline(
    store: TimelineStore,
) -> None:
    results = [await store.append(message(i), {A, B}) for i in range(1, 4)]
    results.append(await store.append(message(1, conversation_id="s:2:3"), {B, C}))

    assert results == [{A: 1, B: 1}, {A: 2, B: 2}, {A: 3, B: 3}, {B: 4, C: 1}]
    assert await user_seqs(store, A) == [1, 2, 3]
    assert await user_seqs(store, B) == [1, 2, 3, 4]
    assert await store.latest_seq(B) == 4


async def test_append_to_nobody_stores_nothing(store: TimelineStore) -> None:
    assert await store.append(message(1), set()) == {}
    assert await store.latest_seq(A) == 0


async def test_appending_the_same_message_again_returns_the_seqs_it_has(
    store: TimelineStore,
) -> None:
    await store.append(message(1), {A})
    first = await store.append(message(2), {A, B})

    again = await store.append(message(2), {A, B})
    widened = await store.append(message(2), {A, B, C})

    assert first == again == {A: 2, B: 1}
    assert widened == {A: 2, B: 1, C: 1}
    assert await user_seqs(store, A) == [1, 2]
    assert await user_seqs(store, B) == [1]
    assert await store.latest_seq(A) == 2


async def test_same_seq_in_another_conversation_is_another_message(store: TimelineStore) -> None:
    await store.append(message(1, conversation_id="g:7"), {A})

    assert await store.append(message(1, conversation_id="g:8"), {A}) == {A: 2}


async def test_entries_hold_the_message_as_appended(store: TimelineStore) -> None:
    sent = message(
        MAX_ID, conversation_id=f"s:{MAX_ID - 1}:{MAX_ID}", body="héllo ✓ \"q\" ; 'x'\n" * 3
    )
    big = message(2, body="x" * 70_000)

    await store.append(sent, {MAX_ID})
    await store.append(big, {MAX_ID})

    page = await store.sync(MAX_ID, 0, 10)
    assert page.entries == [
        TimelineEntry(user_seq=1, message=sent),
        TimelineEntry(user_seq=2, message=big),
    ]


async def test_concurrent_appends_to_the_same_users_take_distinct_consecutive_seqs(
    store: TimelineStore,
) -> None:
    users = set(range(100, 130))
    messages = [message(i) for i in range(1, 21)]

    results = await asyncio.gather(*(store.append(m, users) for m in messages))

    for user_id in users:
        assert sorted(r[user_id] for r in results) == list(range(1, 21))
        page = await store.sync(user_id, 0, 100)
        assert [e.user_seq for e in page.entries] == list(range(1, 21))
        # Each entry is the message that append reported at that seq.
        by_seq = {r[user_id]: m for r, m in zip(results, messages, strict=True)}
        assert [e.message for e in page.entries] == [by_seq[s] for s in range(1, 21)]
        assert page.latest_seq == 20


async def test_concurrent_appends_to_overlapping_users_leave_no_gaps(
    store: TimelineStore,
) -> None:
    rng = random.Random(7)
    users = list(range(200, 240))
    audiences = [set(rng.sample(users, rng.randint(1, 25))) for _ in range(40)]

    results = await asyncio.gather(
        *(store.append(message(i + 1), audience) for i, audience in enumerate(audiences))
    )

    for user_id in users:
        received = sum(user_id in audience for audience in audiences)
        got = sorted(r[user_id] for r in results if user_id in r)
        assert got == list(range(1, received + 1))
        assert await user_seqs(store, user_id) == got


async def test_concurrent_appends_of_the_same_message_store_it_once(
    store: TimelineStore,
) -> None:
    await store.append(message(1), {A})

    results = await asyncio.gather(*(store.append(message(2), {A, B, C}) for _ in range(10)))

    assert all(r == {A: 2, B: 1, C: 1} for r in results)
    assert await user_seqs(store, A) == [1, 2]
    assert await user_seqs(store, B) == [1]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)
async def test_group_append_costs_a_few_statements_whatever_the_audience(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    # A property of the SQL adapter only: the fake has no statements to count.
    store = SqlTimelineStore()
    members = set(range(1000, 3000))
    await store.append(message(1), members)

    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result = await store.append(message(2), members)

    assert set(result.values()) == {2}
    statements = [r for r in caplog.records if r.name == "tortoise.db_client"]
    # find entries already there, bump cursors, read them back, insert entries
    assert len(statements) <= 4, [r.getMessage()[:80] for r in statements]


# --- sync -------------------------------------------------------------------------------------


async def test_sync_pages_through_the_timeline(store: TimelineStore) -> None:
    sent = [message(i) for i in range(1, 6)]
    for m in sent:
        await store.append(m, {A})

    first = await store.sync(A, 0, 2)
    second = await store.sync(A, 2, 2)
    last = await store.sync(A, 4, 2)
    beyond = await store.sync(A, 5, 2)

    assert first == SyncPage(
        entries=[
            TimelineEntry(user_seq=1, message=sent[0]),
            TimelineEntry(user_seq=2, message=sent[1]),
        ],
        latest_seq=5,
        has_more=True,
    )
    assert [e.user_seq for e in second.entries] == [3, 4]
    assert second.has_more
    assert last == SyncPage(
        entries=[TimelineEntry(user_seq=5, message=sent[4])], latest_seq=5, has_more=False
    )
    assert beyond == SyncPage(entries=[], latest_seq=5, has_more=False)


async def test_sync_with_exactly_the_remaining_entries_has_no_more(store: TimelineStore) -> None:
    for i in range(1, 4):
        await store.append(message(i), {A})

    page = await store.sync(A, 1, 2)

    assert [e.user_seq for e in page.entries] == [2, 3]
    assert not page.has_more


async def test_sync_of_an_empty_timeline(store: TimelineStore) -> None:
    assert await store.sync(A, 0, 10) == SyncPage(entries=[], latest_seq=0, has_more=False)
    assert await store.latest_seq(A) == 0


async def test_sync_shows_only_the_users_own_timeline(store: TimelineStore) -> None:
    await store.append(message(1), {A, B})
    await store.append(message(2), {B})
    await store.append(message(3), {A})

    a = await store.sync(A, 0, 10)
    b = await store.sync(B, 0, 10)

    assert [(e.user_seq, e.message.seq) for e in a.entries] == [(1, 1), (2, 3)]
    assert [(e.user_seq, e.message.seq) for e in b.entries] == [(1, 1), (2, 2)]


# --- expiry -----------------------------------------------------------------------------------


async def test_prune_removes_only_entries_older_than_the_cutoff(store: TimelineStore) -> None:
    for i in range(1, 7):
        await store.append(message(i, at=NOW - 40 * DAY + i), {A, B})
    await store.append(message(7, at=NOW - DAY), {A})
    await store.append(message(8, at=NOW), {A, B})

    deleted = await store.prune(NOW - 30 * DAY)

    assert deleted == 12
    assert await user_seqs(store, A) == [7, 8]
    assert await user_seqs(store, B) == [7]
    assert await store.prune(NOW - 30 * DAY) == 0


async def test_prune_keeps_the_cutoff_moment_itself(store: TimelineStore) -> None:
    await store.append(message(1, at=NOW - 1), {A})
    await store.append(message(2, at=NOW), {A})

    assert await store.prune(NOW) == 1
    assert await user_seqs(store, A) == [2]


async def test_after_pruning_seqs_continue_above_the_latest(store: TimelineStore) -> None:
    for i in range(1, 4):
        await store.append(message(i, at=NOW - 40 * DAY), {A})

    assert await store.prune(NOW) == 3
    assert await store.latest_seq(A) == 3
    assert await store.sync(A, 0, 10) == SyncPage(entries=[], latest_seq=3, has_more=False)

    assert await store.append(message(4), {A}) == {A: 4}
    page = await store.sync(A, 0, 10)
    assert [e.user_seq for e in page.entries] == [4]
    assert page.latest_seq == 4


async def test_a_client_behind_the_pruned_range_gets_what_is_left(store: TimelineStore) -> None:
    for i in range(1, 4):
        await store.append(message(i, at=NOW - 40 * DAY), {A})
    for i in range(4, 6):
        await store.append(message(i), {A})
    await store.prune(NOW - DAY)

    page = await store.sync(A, 1, 10)

    assert [e.user_seq for e in page.entries] == [4, 5]
    assert page.latest_seq == 5
