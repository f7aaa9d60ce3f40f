"""Contract of chat's ``MessageChangeStore``: recall and edit rewrite every stored copy."""

from __future__ import annotations

import msgspec
import pytest

from gomicroim.modules.chat import changes
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import ChatStore, MessageChangeStore
from gomicroim.modules.chat.storage import SqlChatStore
from gomicroim.modules.chat.storage.changes import SqlMessageChangeStore
from tests.contract.conftest import Backend
from tests.contract.test_chat_store import AB, NOW, A, B, draft, entry
from tests.fakes import MemoryChatStore
from tests.fakes.changes import MemoryMessageChangeStore


@pytest.fixture
def chat(backend: Backend) -> ChatStore:
    return SqlChatStore() if backend.sql else MemoryChatStore()


@pytest.fixture
def store(backend: Backend, chat: ChatStore) -> MessageChangeStore:
    if backend.sql:
        return SqlMessageChangeStore()
    assert isinstance(chat, MemoryChatStore)
    return MemoryMessageChangeStore(chat)


def _recall(message: MessageRead) -> MessageRead | None:
    return None if message.recalled else changes.recalled(message, A, NOW + 5)


async def _outbox_payloads(backend: Backend, chat: ChatStore) -> list[MessageCommitted]:
    if isinstance(chat, MemoryChatStore):
        return list(chat.outbox)
    decode = msgspec.json.Decoder(MessageCommitted).decode
    rows = await backend.query("SELECT payload FROM chat_outbox ORDER BY id")
    return [decode(r["payload"]) for r in rows]


async def test_a_recall_leaves_a_tombstone_in_history_preview_and_outbox(
    backend: Backend, chat: ChatStore, store: MessageChangeStore
) -> None:
    await chat.append(draft("m1", body="first"))
    sent = await chat.append(draft("m2", body="oops, secret"))

    outcome = await store.change(AB, sent.seq, _recall, "phone-1")

    assert outcome is not None
    tombstone, changed = outcome
    assert changed
    assert (tombstone.recalled, tombstone.recalled_by, tombstone.recalled_at) == (True, A, NOW + 5)
    assert tombstone.body == ""
    assert tombstone.revision == 1
    page, _ = await chat.history(AB, before_seq=None, after_seq=None, limit=10)
    assert [(m.seq, m.body, m.recalled) for m in page] == [(1, "first", False), (2, "", True)]
    assert await store.message(AB, sent.seq) == tombstone
    row = await entry(chat, A, AB)
    assert row is not None
    assert row.last_message == tombstone
    assert all("secret" not in e.message.body for e in await _outbox_payloads(backend, chat))


async def test_a_second_recall_changes_nothing(chat: ChatStore, store: MessageChangeStore) -> None:
    sent = await chat.append(draft("m1"))
    first = await store.change(AB, sent.seq, _recall, "phone-1")
    again = await store.change(AB, sent.seq, _recall, "phone-2")

    assert first is not None
    assert again == (first[0], False)


async def test_an_edit_keeps_the_seq_and_only_that_message_changes(
    chat: ChatStore, store: MessageChangeStore
) -> None:
    one = await chat.append(draft("m1", body="helo"))
    two = await chat.append(draft("m2", body="second"))

    outcome = await store.change(
        AB, one.seq, lambda m: changes.edited(m, "hello", NOW + 9), "phone-1"
    )

    assert outcome is not None
    assert (outcome[0].seq, outcome[0].body, outcome[0].edited_at) == (one.seq, "hello", NOW + 9)
    page, _ = await chat.history(AB, before_seq=None, after_seq=None, limit=10)
    assert [(m.seq, m.body, m.revision) for m in page] == [(1, "hello", 1), (2, "second", 0)]
    row = await entry(chat, A, AB)
    assert row is not None
    assert row.last_message == two  # the preview is the last message, which did not change


async def test_a_refused_change_stores_nothing(chat: ChatStore, store: MessageChangeStore) -> None:
    sent = await chat.append(draft("m1", body="keep"))

    def refuse(message: MessageRead) -> MessageRead | None:
        changes.may_recall(message, B, None, NOW, 120_000)
        return None

    with pytest.raises(Exception, match="only the sender"):
        await store.change(AB, sent.seq, refuse, "phone-1")
    assert await store.message(AB, sent.seq) == sent


async def test_missing_messages_are_none(chat: ChatStore, store: MessageChangeStore) -> None:
    await chat.append(draft("m1"))

    assert await store.message(AB, 9) is None
    assert await store.change(AB, 9, _recall, "phone-1") is None
    assert await store.message("s:5:6", 1) is None


async def test_hidden_messages_are_per_user_and_idempotent(
    chat: ChatStore, store: MessageChangeStore
) -> None:
    for n in range(3):
        await chat.append(draft(f"m{n}"))

    await store.hide(A, AB, 2, NOW)
    await store.hide(A, AB, 2, NOW + 1)

    assert await store.hidden(A, AB, [1, 2, 3]) == {2}
    assert await store.hidden(B, AB, [1, 2, 3]) == set()
    assert await store.hidden(A, AB, []) == set()


async def test_a_sent_message_is_relayed_once_its_outbox_row_is_published(
    backend: Backend, chat: ChatStore, store: MessageChangeStore
) -> None:
    sent = await chat.append(draft("m1"))
    if isinstance(store, MemoryMessageChangeStore):
        store.unrelayed.add((AB, sent.seq))
    assert not await store.relayed(AB, sent.seq)
    if isinstance(store, MemoryMessageChangeStore):
        store.unrelayed.clear()
    else:
        await backend.query("UPDATE chat_outbox SET published_at = 1")
    assert await store.relayed(AB, sent.seq)
