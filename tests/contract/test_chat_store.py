"""Contract of chat's ``ChatStore``: seqs, idempotency, history, entries, reads and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from gomicroim.config import ChatSettings
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import (
    ChatStore,
    DuplicateMessage,
    EntryRow,
    ListPosition,
    MessageDraft,
    ReadPosition,
)
from gomicroim.modules.chat.storage import SqlChatStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryChatStore

NOW = 1_700_000_000_000
A, B, C, D = 1, 2, 3, 4
AB = "s:1:2"
GROUP = "g:77"
MAX_ID = 2**53 - 1

Outbox = Callable[[], Awaitable[list[MessageCommitted]]]


@pytest.fixture
def store(backend: Backend) -> ChatStore:
    return SqlChatStore() if backend.sql else MemoryChatStore()


@pytest.fixture
def outbox(backend: Backend, store: ChatStore) -> Outbox:
    """Reads back the outbox records the store wrote, oldest first."""
    decode = msgspec.json.Decoder(MessageCommitted).decode

    async def read() -> list[MessageCommitted]:
        if isinstance(store, MemoryChatStore):
            return list(store.outbox)
        rows = await backend.query(
            "SELECT conversation_id, seq, payload FROM chat_outbox ORDER BY id"
        )
        records = [decode(r["payload"]) for r in rows]
        assert [(r["conversation_id"], r["seq"]) for r in rows] == [
            (c.message.conversation_id, c.message.seq) for c in records
        ]
        return records

    return read


def draft(
    client_msg_id: str,
    *,
    conversation_id: str = AB,
    sender_id: int = A,
    to: int = B,
    body: str = "hi",
    at: int = NOW,
) -> MessageDraft:
    return MessageDraft(
        conversation_id=conversation_id,
        session_type="group" if conversation_id.startswith("g:") else "single",
        sender_id=sender_id,
        sender_device_id="phone-1",
        to=to,
        client_msg_id=client_msg_id,
        msg_type="text",
        body=body,
        created_at=at,
    )


async def entry(store: ChatStore, user_id: int, conversation_id: str) -> EntryRow | None:
    return next(
        (e for e in await store.entries(user_id) if e.conversation_id == conversation_id), None
    )


async def seqs(store: ChatStore, conversation_id: str) -> list[int]:
    messages, _ = await store.history(conversation_id, before_seq=None, after_seq=0, limit=1000)
    return [m.seq for m in messages]


# --- conversations and entries -------------------------------------------------------------


async def test_ensure_conversation_gives_each_user_an_empty_entry(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    for user in (A, B):
        assert await store.entries(user) == [
            EntryRow(
                conversation_id=AB,
                session_type="single",
                last_seq=0,
                read_seq=0,
                last_message=None,
                updated_at=NOW,
            )
        ]
    assert await store.entries(C) == []


async def test_existing_conversations_are_the_created_ones(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.ensure_conversation(GROUP, "group", {C}, NOW)

    found = await store.existing_conversations([AB, "s:1:3", GROUP, "g:78"])
    again = await store.existing_conversations([AB, "s:2:3"])

    assert found == {AB, GROUP}
    assert again == {AB}
    assert await store.existing_conversations([]) == set()


async def test_ensure_conversation_again_changes_nothing(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    first = await store.append(draft("m1", at=NOW + 1))

    await store.ensure_conversation(AB, "single", {A, B}, NOW + 2)

    assert await entry(store, A, AB) == EntryRow(
        conversation_id=AB,
        session_type="single",
        last_seq=1,
        read_seq=1,
        last_message=first,
        updated_at=NOW + 1,
    )
    b = await entry(store, B, AB)
    assert b is not None
    assert (b.read_seq, b.last_seq) == (0, 1)
    assert len(await store.entries(B)) == 1


async def test_concurrent_first_messages_create_one_conversation(store: ChatStore) -> None:
    await asyncio.gather(*(store.ensure_conversation(AB, "single", {A, B}, NOW) for _ in range(10)))

    assert [e.conversation_id for e in await store.entries(A)] == [AB]
    assert [e.conversation_id for e in await store.entries(B)] == [AB]
    assert (await store.append(draft("m1"))).seq == 1


async def test_entries_list_most_recently_active_first(store: ChatStore) -> None:
    for i, conversation_id in enumerate(["s:1:2", "s:1:3", "s:1:4"]):
        await store.ensure_conversation(conversation_id, "single", {A, 2 + i}, NOW)
    await store.append(draft("x", conversation_id="s:1:3", to=C, at=NOW + 10))
    await store.append(draft("y", conversation_id="s:1:2", to=B, at=NOW + 20))

    rows = await store.entries(A)

    assert [r.conversation_id for r in rows] == ["s:1:2", "s:1:3", "s:1:4"]
    assert [r.updated_at for r in rows] == [NOW + 20, NOW + 10, NOW]


def list_of(user_id: int, count: int) -> list[str]:
    """``count`` single chats of ``user_id`` with the users 100, 101..."""
    return [f"s:{user_id}:{100 + i}" for i in range(count)]


async def walk(store: ChatStore, user_id: int, limit: int) -> list[list[str]]:
    """Every page of ``user_id``'s list, ``limit`` at a time, following the last position."""
    pages: list[list[str]] = []
    before: ListPosition | None = None
    while True:
        rows = await store.entries(user_id, before=before, limit=limit)
        assert len(rows) <= limit
        if not rows:
            return pages
        pages.append([r.conversation_id for r in rows])
        last = rows[-1]
        before = ListPosition(updated_at=last.updated_at, conversation_id=last.conversation_id)


async def test_list_pages_walk_every_entry_once_by_activity_then_id(store: ChatStore) -> None:
    # Three at one instant (a tie broken by id, descending), then activity in some order.
    for i, conversation_id in enumerate(list_of(A, 7)):
        await store.ensure_conversation(conversation_id, "single", {A, 100 + i}, NOW)
    for i, peer in enumerate([104, 101, 106, 103]):
        await store.append(
            draft(f"m{i}", conversation_id=f"s:1:{peer}", sender_id=peer, to=A, at=NOW + 10 + i)
        )
    await store.ensure_conversation("s:2:3", "single", {B, C}, NOW + 99)  # not A's

    expected = ["s:1:103", "s:1:106", "s:1:101", "s:1:104", "s:1:105", "s:1:102", "s:1:100"]
    assert [r.conversation_id for r in await store.entries(A)] == expected
    for limit in (1, 2, 3, 7, 50):
        pages = await walk(store, A, limit)
        assert [c for p in pages for c in p] == expected
        assert all(len(p) == limit for p in pages[:-1])


async def test_a_list_page_starts_strictly_below_its_cursor(store: ChatStore) -> None:
    for i, conversation_id in enumerate(list_of(A, 3)):
        await store.ensure_conversation(conversation_id, "single", {A, 100 + i}, NOW)

    def at(updated_at: int, conversation_id: str) -> ListPosition:
        return ListPosition(updated_at=updated_at, conversation_id=conversation_id)

    async def ids(before: ListPosition) -> list[str]:
        return [r.conversation_id for r in await store.entries(A, before=before, limit=10)]

    assert await ids(at(NOW, "s:1:102")) == ["s:1:101", "s:1:100"]
    assert await ids(at(NOW, "s:1:100")) == []
    assert await ids(at(NOW + 1, "s:0:0")) == ["s:1:102", "s:1:101", "s:1:100"]
    assert await ids(at(NOW - 1, "s:9:9")) == []
    assert await store.entries(A, limit=0) == []


async def test_a_page_carries_the_state_of_its_entries(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.append(draft("m1", body="x" * 5000, at=NOW + 5))
    await store.append(draft("m2", sender_id=B, to=A, at=NOW + 6))
    await store.ensure_conversation(GROUP, "group", {A}, NOW)

    rows = await store.entries(A, limit=1)

    assert len(rows) == 1
    row = rows[0]
    assert (row.conversation_id, row.session_type, row.last_seq, row.read_seq) == (
        AB,
        "single",
        2,
        1,
    )
    assert row.updated_at == NOW + 6
    assert row.last_message is not None
    assert row.last_message.client_msg_id == "m2"
    [group] = await store.entries(A, before=ListPosition(updated_at=NOW + 6, conversation_id=AB))
    assert (group.conversation_id, group.session_type, group.last_message) == (GROUP, "group", None)


async def test_total_unread_sums_every_entry_and_never_counts_below_zero(
    store: ChatStore,
) -> None:
    assert await store.total_unread(A, NOW) == 0
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.ensure_conversation(GROUP, "group", {A, B}, NOW)
    for i in range(3):
        await store.append(draft(f"s{i}", sender_id=B, to=A))
    for i in range(2):
        await store.append(draft(f"g{i}", conversation_id=GROUP, sender_id=B, to=77))

    assert await store.total_unread(A, NOW) == 5
    assert await store.total_unread(B, NOW) == 0
    await store.mark_read(A, AB, 2)
    assert await store.total_unread(A, NOW) == 3
    await store.mark_read(A, GROUP, 99)
    assert await store.total_unread(A, NOW) == 1


# --- append, seqs and the outbox -------------------------------------------------------------


async def test_append_allocates_consecutive_seqs_from_one(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    messages = [
        await store.append(draft(f"m{i}", sender_id=[A, B][i % 2], to=[B, A][i % 2], at=NOW + i))
        for i in range(5)
    ]

    assert [m.seq for m in messages] == [1, 2, 3, 4, 5]
    assert await seqs(store, AB) == [1, 2, 3, 4, 5]


async def test_append_returns_and_stores_the_message(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    message = await store.append(draft("m1", body="hello", at=NOW + 7))

    assert message == MessageRead(
        conversation_id=AB,
        seq=1,
        sender_id=A,
        to=B,
        session_type="single",
        client_msg_id="m1",
        msg_type="text",
        body="hello",
        created_at=NOW + 7,
    )
    assert await store.find_sent(A, "m1") == message
    assert await store.history(AB, before_seq=None, after_seq=None, limit=10) == ([message], False)


async def test_append_moves_the_conversation_and_the_senders_read_position(
    store: ChatStore,
) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.append(draft("m1", at=NOW + 1))

    second = await store.append(draft("m2", at=NOW + 2))

    assert await entry(store, A, AB) == EntryRow(
        conversation_id=AB,
        session_type="single",
        last_seq=2,
        read_seq=2,
        last_message=second,
        updated_at=NOW + 2,
    )
    b = await entry(store, B, AB)
    assert b is not None
    assert (b.last_seq, b.read_seq, b.last_message) == (2, 0, second)


async def test_append_gives_a_sender_without_an_entry_one(store: ChatStore) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)

    await store.append(draft("m1", conversation_id=GROUP, to=77))

    a = await entry(store, A, GROUP)
    assert a is not None
    assert (a.session_type, a.last_seq, a.read_seq) == ("group", 1, 1)


async def test_a_draft_that_does_not_advance_its_sender_leaves_their_entry_alone(
    store: ChatStore,
) -> None:
    await store.ensure_conversation(GROUP, "group", {B}, NOW)
    gone = msgspec.structs.replace(
        draft("sys:member_left", conversation_id=GROUP, to=77), advance_sender=False
    )

    stored = await store.append(gone)
    await store.append(
        msgspec.structs.replace(
            draft("sys:x", conversation_id=GROUP, to=77, sender_id=B), advance_sender=False
        )
    )

    # The leaver gets no entry back; a member sender's read position stays where it was.
    assert stored.seq == 1
    assert await entry(store, A, GROUP) is None
    b = await entry(store, B, GROUP)
    assert b is not None
    assert (b.last_seq, b.read_seq) == (2, 0)
    assert await seqs(store, GROUP) == [1, 2]


async def test_each_conversation_counts_its_own_seqs(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.ensure_conversation("s:1:3", "single", {A, C}, NOW)

    await store.append(draft("m1"))
    await store.append(draft("m2"))
    other = await store.append(draft("m3", conversation_id="s:1:3", to=C))

    assert other.seq == 1


async def test_append_writes_one_outbox_record_per_message(
    store: ChatStore, outbox: Outbox
) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    m1 = await store.append(draft("m1"))
    m2 = await store.append(draft("m2", sender_id=B, to=A))

    assert await outbox() == [
        MessageCommitted(message=m1, sender_device_id="phone-1"),
        MessageCommitted(message=m2, sender_device_id="phone-1"),
    ]


async def test_fifty_concurrent_appends_get_seqs_one_to_fifty(
    store: ChatStore, outbox: Outbox
) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)

    messages = await asyncio.gather(
        *(
            store.append(draft(f"m{i}", conversation_id=GROUP, sender_id=1 + i % 5, to=77))
            for i in range(50)
        )
    )

    assert sorted(m.seq for m in messages) == list(range(1, 51))
    assert await seqs(store, GROUP) == list(range(1, 51))
    assert sorted(c.message.seq for c in await outbox()) == list(range(1, 51))
    rows = [await entry(store, u, GROUP) for u in range(1, 6)]
    assert {r.last_seq for r in rows if r} == {50}
    last = max(messages, key=lambda m: m.seq)
    assert rows[0] is not None
    assert rows[0].last_message == last


# --- idempotency -----------------------------------------------------------------------------


async def test_a_repeated_client_msg_id_is_refused_and_changes_nothing(
    store: ChatStore, outbox: Outbox
) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    first = await store.append(draft("m1", body="first"))

    with pytest.raises(DuplicateMessage):
        await store.append(draft("m1", body="second", at=NOW + 5))

    assert await store.find_sent(A, "m1") == first
    assert await seqs(store, AB) == [1]
    a = await entry(store, A, AB)
    assert a is not None
    assert (a.last_seq, a.last_message, a.updated_at) == (1, first, NOW)
    assert len(await outbox()) == 1


async def test_client_msg_id_is_unique_per_sender_across_conversations(
    store: ChatStore,
) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.ensure_conversation("s:1:3", "single", {A, C}, NOW)
    await store.append(draft("m1"))

    with pytest.raises(DuplicateMessage):
        await store.append(draft("m1", conversation_id="s:1:3", to=C))

    assert await seqs(store, "s:1:3") == []


async def test_different_senders_may_use_the_same_client_msg_id(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    from_a = await store.append(draft("same"))
    from_b = await store.append(draft("same", sender_id=B, to=A))

    assert await store.find_sent(A, "same") == from_a
    assert await store.find_sent(B, "same") == from_b
    assert await store.find_sent(C, "same") is None


async def test_client_msg_ids_are_case_sensitive(store: ChatStore) -> None:
    # Ids are any printable ASCII; generators such as nanoid or base64 use both cases, so
    # "aB3" and "Ab3" are two messages and each resend must return its own.
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    lower = await store.append(draft("msg-x", body="lower"))
    upper = await store.append(draft("MSG-X", body="upper"))

    assert (lower.seq, upper.seq) == (1, 2)
    assert await store.find_sent(A, "msg-x") == lower
    assert await store.find_sent(A, "MSG-X") == upper


async def test_concurrent_appends_of_one_client_msg_id_store_one_message(
    store: ChatStore, outbox: Outbox
) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    results = await asyncio.gather(
        *(store.append(draft("retry", body=f"try {i}")) for i in range(10)),
        return_exceptions=True,
    )

    stored = [r for r in results if isinstance(r, MessageRead)]
    assert len(stored) == 1
    assert all(isinstance(r, DuplicateMessage) for r in results if r is not stored[0])
    assert await store.find_sent(A, "retry") == stored[0]
    assert await seqs(store, AB) == [1]
    assert len(await outbox()) == 1


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)
async def test_replicas_racing_one_client_msg_id_store_one_message(
    backend: Backend, outbox: Outbox
) -> None:
    # Two stores are two replicas' group committers, each writing its own conversation, so
    # their batches hold different row locks and run at once. A send retried through both
    # can then pass both duplicate checks; on MySQL the loser hits the unique key and must
    # settle as a duplicate while the other sends of its batch are still stored.
    replicas = [SqlChatStore(), SqlChatStore()]
    ac = "s:1:3"
    await replicas[0].ensure_conversation(AB, "single", {A, B}, NOW)
    await replicas[0].ensure_conversation(ac, "single", {A, C}, NOW)

    results = await asyncio.gather(
        *(
            replicas[i % 2].append(
                draft("raced", conversation_id=(AB, ac)[i % 2], to=(B, C)[i % 2])
            )
            for i in range(10)
        ),
        *(
            replicas[i % 2].append(
                draft(f"other-{i}", conversation_id=(AB, ac)[i % 2], to=(B, C)[i % 2])
            )
            for i in range(10)
        ),
        return_exceptions=True,
    )

    raced, others = results[:10], results[10:]
    stored = [r for r in raced if isinstance(r, MessageRead)]
    assert len(stored) == 1
    assert all(isinstance(r, DuplicateMessage) for r in raced if r is not stored[0])
    assert all(isinstance(r, MessageRead) for r in others), others
    assert len(await seqs(replicas[0], AB)) + len(await seqs(replicas[0], ac)) == 11
    assert len(await outbox()) == 11


# --- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Grüße, 你好, Привет",
        "emoji 🐱👍🏽 and a flag 🇫🇷",
        '{"lat": 48.85, "note": "quote \\" and backslash \\\\"}',
        "",
        "line\nbreak\ttab",
    ],
    ids=["multibyte", "four-byte-emoji", "json", "empty", "control"],
)
async def test_bodies_round_trip_exactly(store: ChatStore, outbox: Outbox, body: str) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    message = await store.append(draft("m1", body=body))

    assert message.body == body
    page, _ = await store.history(AB, before_seq=None, after_seq=None, limit=1)
    assert page[0].body == body
    b = await entry(store, B, AB)
    assert b is not None
    assert b.last_message is not None
    assert b.last_message.body == body
    assert (await outbox())[0].message.body == body


async def test_a_body_of_the_default_maximum_size_is_stored(
    store: ChatStore, outbox: Outbox
) -> None:
    limit = ChatSettings().max_body_bytes
    body = "界" * (limit // 3) + "x" * (limit % 3)
    assert len(body.encode()) == limit
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    await store.append(draft("big", body=body))

    page, _ = await store.history(AB, before_seq=None, after_seq=None, limit=1)
    assert page[0].body == body
    assert (await outbox())[0].message.body == body


async def test_the_largest_ids_round_trip(store: ChatStore) -> None:
    small, big = MAX_ID - 1, MAX_ID
    conversation_id = f"s:{small}:{big}"
    await store.ensure_conversation(conversation_id, "single", {small, big}, NOW)

    message = await store.append(
        draft("m1", conversation_id=conversation_id, sender_id=big, to=small)
    )

    assert (message.sender_id, message.to) == (big, small)
    assert await store.find_sent(big, "m1") == message
    assert [e.conversation_id for e in await store.entries(small)] == [conversation_id]


# --- history ---------------------------------------------------------------------------------


@pytest.fixture
async def ten(store: ChatStore) -> ChatStore:
    """A conversation with seqs 1..10."""
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    for i in range(10):
        await store.append(draft(f"m{i}", at=NOW + i))
    return store


async def page(
    store: ChatStore, *, before: int | None = None, after: int | None = None, limit: int
) -> tuple[list[int], bool]:
    messages, more = await store.history(AB, before_seq=before, after_seq=after, limit=limit)
    return [m.seq for m in messages], more


async def test_history_without_cursor_is_the_newest_page(ten: ChatStore) -> None:
    assert await page(ten, limit=3) == ([8, 9, 10], True)
    assert await page(ten, limit=10) == (list(range(1, 11)), False)
    assert await page(ten, limit=50) == (list(range(1, 11)), False)


async def test_history_pages_back_with_before_seq(ten: ChatStore) -> None:
    assert await page(ten, before=8, limit=3) == ([5, 6, 7], True)
    assert await page(ten, before=4, limit=3) == ([1, 2, 3], False)
    assert await page(ten, before=3, limit=3) == ([1, 2], False)
    assert await page(ten, before=1, limit=3) == ([], False)


async def test_history_pages_forward_with_after_seq(ten: ChatStore) -> None:
    assert await page(ten, after=0, limit=4) == ([1, 2, 3, 4], True)
    assert await page(ten, after=4, limit=4) == ([5, 6, 7, 8], True)
    assert await page(ten, after=7, limit=3) == ([8, 9, 10], False)
    assert await page(ten, after=10, limit=3) == ([], False)


async def test_history_of_an_unknown_or_empty_conversation_is_empty(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    assert await store.history(AB, before_seq=None, after_seq=None, limit=10) == ([], False)
    assert await store.history("g:999", before_seq=None, after_seq=0, limit=10) == ([], False)


async def test_history_holds_only_its_own_conversation(ten: ChatStore) -> None:
    await ten.ensure_conversation("s:1:3", "single", {A, C}, NOW)
    await ten.append(draft("other", conversation_id="s:1:3", to=C))

    assert await page(ten, after=0, limit=100) == (list(range(1, 11)), False)


# --- group membership sync -------------------------------------------------------------------


async def test_member_version_is_zero_until_synced(store: ChatStore) -> None:
    assert await store.member_version(GROUP) == 0
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    assert await store.member_version(GROUP) == 0

    await store.sync_members(GROUP, 3, {A, B}, NOW)

    assert await store.member_version(GROUP) == 3


async def test_sync_members_makes_the_entries_exactly_the_members(store: ChatStore) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    await store.sync_members(GROUP, 1, {A, B, C}, NOW)
    for i in range(3):
        await store.append(draft(f"m{i}", conversation_id=GROUP, to=77, at=NOW + i))
    await store.mark_read(B, GROUP, 1)

    await store.sync_members(GROUP, 2, {A, B, D}, NOW + 10)

    assert await store.member_version(GROUP) == 2
    assert await entry(store, C, GROUP) is None
    a, b, d = [await entry(store, u, GROUP) for u in (A, B, D)]
    assert a is not None
    assert b is not None
    assert d is not None
    # Kept members keep their position; a newcomer starts with nothing unread.
    assert (a.read_seq, b.read_seq, d.read_seq) == (3, 1, 3)
    assert d.last_seq == 3


async def test_sync_members_with_an_older_or_equal_version_changes_nothing(
    store: ChatStore,
) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    await store.sync_members(GROUP, 5, {A, B}, NOW)

    await store.sync_members(GROUP, 4, {C}, NOW)
    await store.sync_members(GROUP, 5, {D}, NOW)

    assert await store.member_version(GROUP) == 5
    assert [bool(await entry(store, u, GROUP)) for u in (A, B, C, D)] == [True, True, False, False]


async def test_concurrent_syncs_of_one_version_agree(store: ChatStore) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    members = set(range(1, 21))

    await asyncio.gather(*(store.sync_members(GROUP, 2, members, NOW) for _ in range(5)))

    assert await store.member_version(GROUP) == 2
    for user in members:
        assert [e.conversation_id for e in await store.entries(user)] == [GROUP]


# --- read positions --------------------------------------------------------------------------


async def test_mark_read_moves_forward_only_and_stops_at_the_last_seq(ten: ChatStore) -> None:
    assert await ten.mark_read(B, AB, 4) == _pos(4, moved=True)
    assert await ten.mark_read(B, AB, 2) == _pos(4)
    assert await ten.mark_read(B, AB, 4) == _pos(4)
    assert await ten.mark_read(B, AB, 99) == _pos(10, moved=True)
    assert await ten.mark_read(B, AB, 0) == _pos(10)
    assert await ten.mark_read(B, AB, 11) == _pos(10)

    b = await entry(ten, B, AB)
    assert b is not None
    assert b.read_seq == 10


def _pos(read_seq: int, last_seq: int = 10, *, moved: bool = False) -> ReadPosition:
    return ReadPosition(read_seq=read_seq, last_seq=last_seq, moved=moved)


async def test_mark_read_creates_a_missing_entry(store: ChatStore) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    for i in range(3):
        await store.append(draft(f"m{i}", conversation_id=GROUP, to=77))

    assert await store.mark_read(B, GROUP, 2) == _pos(2, 3, moved=True)

    b = await entry(store, B, GROUP)
    assert b is not None
    assert (b.read_seq, b.last_seq) == (2, 3)


async def test_mark_read_of_an_unknown_conversation_stores_nothing(store: ChatStore) -> None:
    assert await store.mark_read(A, "g:404", 5) == _pos(0, 0)
    assert await store.entries(A) == []


async def test_concurrent_reads_keep_the_furthest_position(ten: ChatStore) -> None:
    await asyncio.gather(*(ten.mark_read(B, AB, s) for s in [3, 9, 1, 7, 5, 2, 8]))

    b = await entry(ten, B, AB)
    assert b is not None
    assert b.read_seq == 9


async def test_concurrent_first_reads_create_one_entry(store: ChatStore) -> None:
    # A group newcomer's devices may all mark a read before any message gave them an entry.
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    for i in range(5):
        await store.append(draft(f"m{i}", conversation_id=GROUP, to=77))

    await asyncio.gather(*(store.mark_read(B, GROUP, s) for s in [2, 4, 1, 3, 5]))

    rows = [e for e in await store.entries(B) if e.conversation_id == GROUP]
    assert len(rows) == 1
    assert rows[0].read_seq == 5


# --- the peer's read position ------------------------------------------------------------------


async def test_peer_read_seqs_gives_the_other_participants_read_position(store: ChatStore) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.ensure_conversation("s:1:3", "single", {A, C}, NOW)
    for i in range(3):
        await store.append(draft(f"m{i}"))
    await store.mark_read(B, AB, 2)

    assert await store.peer_read_seqs(A, [AB, "s:1:3"]) == {AB: 2, "s:1:3": 0}
    # A's own read position moved with each of A's sends.
    assert await store.peer_read_seqs(B, [AB]) == {AB: 3}
    assert await store.peer_read_seqs(A, []) == {}
    assert await store.peer_read_seqs(A, ["s:1:9"]) == {}
