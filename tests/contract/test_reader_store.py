"""Contract of chat's ``ReaderStore``: who read a message, from the entries' read positions."""

from __future__ import annotations

import pytest

from gomicroim.infra.database import placeholder
from gomicroim.modules.chat.ports import ChatStore, ReadCounts, ReaderPosition, ReaderStore
from gomicroim.modules.chat.storage import READERS_INDEX, SqlChatStore
from gomicroim.modules.chat.storage.readers import SqlReaderStore, counts_query, page_query
from tests.contract.conftest import Backend
from tests.contract.test_chat_store import NOW, draft
from tests.fakes import MemoryChatStore
from tests.fakes.readers import MemoryReaderStore

GROUP = "g:500"
OTHER = "g:501"
SENDER = 1
#: Members 1..60; the sender sends seqs 1..10.
MEMBERS = set(range(1, 61))
#: Who read how far (the rest stay at 0, the read position of a member who joined first).
READS = {u: (u * 7) % 11 for u in range(2, 50)}


@pytest.fixture
def chat(backend: Backend) -> ChatStore:
    return SqlChatStore() if backend.sql else MemoryChatStore()


@pytest.fixture
def store(backend: Backend, chat: ChatStore) -> ReaderStore:
    if backend.sql:
        return SqlReaderStore()
    assert isinstance(chat, MemoryChatStore)
    return MemoryReaderStore(chat)


async def _group(chat: ChatStore, conversation_id: str = GROUP) -> None:
    await chat.ensure_conversation(conversation_id, "group", set(), NOW)
    await chat.sync_members(conversation_id, 1, MEMBERS, NOW)
    for n in range(1, 11):
        await chat.append(
            draft(f"{conversation_id}-{n}", conversation_id=conversation_id, sender_id=SENDER)
        )
    for user_id, seq in READS.items():
        await chat.mark_read(user_id, conversation_id, seq)


def _expected(seq: int) -> list[ReaderPosition]:
    # The sender's own send moved their read position to 10: excluded by the caller's ask.
    return sorted(
        ReaderPosition(read_seq=r, user_id=u) for u, r in READS.items() if r >= seq and r > 0
    )


async def _all_pages(store: ReaderStore, seq: int, limit: int) -> list[list[ReaderPosition]]:
    pages: list[list[ReaderPosition]] = []
    after = None
    while True:
        page = await store.readers(GROUP, seq, exclude=SENDER, after=after, limit=limit)
        pages.append(page)
        if len(page) < limit:
            return pages
        after = page[-1]


@pytest.mark.parametrize("seq", [1, 5, 10])
async def test_paging_lists_every_reader_exactly_once_in_order(
    chat: ChatStore, store: ReaderStore, seq: int
) -> None:
    await _group(chat)
    await _group(chat, OTHER)  # another conversation's entries never show up

    pages = await _all_pages(store, seq, limit=7)

    assert all(len(p) <= 7 for p in pages)
    listed = [p for page in pages for p in page]
    assert listed == _expected(seq)
    assert len({p.user_id for p in listed}) == len(listed)
    assert all(p.read_seq >= seq for p in listed)


async def test_a_cursor_before_the_seq_starts_at_the_seq(
    chat: ChatStore, store: ReaderStore
) -> None:
    await _group(chat)
    early = ReaderPosition(read_seq=2, user_id=99)

    page = await store.readers(GROUP, 6, exclude=SENDER, after=early, limit=100)

    assert page == _expected(6)


async def test_counts_cover_every_entry_but_the_excluded_one(
    chat: ChatStore, store: ReaderStore
) -> None:
    await _group(chat)
    await _group(chat, OTHER)

    counts = await store.read_counts(GROUP, 5, exclude=SENDER)

    unread = sum(1 for u in MEMBERS - {SENDER} if READS.get(u, 0) < 5)
    assert counts == ReadCounts(total=len(MEMBERS) - 1, unread=unread)
    assert counts.total - counts.unread == len(_expected(5))
    assert await store.read_counts("g:999", 1, exclude=SENDER) == ReadCounts(total=0, unread=0)


async def test_leavers_are_gone_from_readers_and_counts(
    chat: ChatStore, store: ReaderStore
) -> None:
    await _group(chat)
    leavers = {2, 3, 4, 5}
    await chat.sync_members(GROUP, 2, MEMBERS - leavers, NOW)

    listed = [p.user_id for page in await _all_pages(store, 1, limit=10) for p in page]
    counts = await store.read_counts(GROUP, 1, exclude=SENDER)

    assert not leavers & set(listed)
    assert counts.total == len(MEMBERS - leavers) - 1
    assert leavers.isdisjoint(await store.read_positions(GROUP))


async def test_read_positions_and_senders(chat: ChatStore, store: ReaderStore) -> None:
    await _group(chat)
    await chat.append(draft("by-7", conversation_id=GROUP, sender_id=7))

    positions = await store.read_positions(GROUP)

    assert set(positions) == MEMBERS
    assert {u: positions[u] for u in READS} == READS | {7: 11}
    assert positions[SENDER] == 10
    assert await store.sender_of(GROUP, 3) == SENDER
    assert await store.sender_of(GROUP, 11) == 7
    assert await store.sender_of(GROUP, 12) is None
    assert await store.sender_of("g:999", 1) is None


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)
async def test_the_sql_reads_go_through_the_readers_index(
    backend: Backend, chat: ChatStore
) -> None:
    await _group(chat)
    assert backend.ctx is not None
    mark = placeholder(backend.ctx.connections.get("default"))
    after = ReaderPosition(read_seq=5, user_id=20)
    statements = [
        page_query(mark, GROUP, 3, SENDER, None, 51),
        page_query(mark, GROUP, 3, SENDER, after, 51),
        counts_query(mark, GROUP, 3, SENDER),
    ]
    for sql, params in statements:
        inlined = sql.replace(mark, "{}").format(*(_literal(p) for p in params))
        if backend.name == "sqlite":
            plan = " ".join(
                str(r["detail"]) for r in await backend.query(f"EXPLAIN QUERY PLAN {inlined}")
            )
            assert f"USING COVERING INDEX {READERS_INDEX} (conversation_id=?" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort: rows come in index order
            if "(read_seq, user_id) >" in sql:
                assert "(read_seq,user_id)>(?,?)" in plan, plan
        else:
            (row,) = await backend.query(f"EXPLAIN {inlined}")
            assert row["key"] == READERS_INDEX, row
            assert "Using index" in row["Extra"], row
            assert "filesort" not in row["Extra"], row


def _literal(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)
