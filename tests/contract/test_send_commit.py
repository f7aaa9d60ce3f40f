"""Contract of ``ChatStore.append`` as the send's unit of work.

Every commit reaches the commit listener (the relay) whatever happened to its caller; each
draft succeeds or fails on its own; a send that fails leaves nothing behind; replicas
(several stores on one database) never share a seq; deadlocks are retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

import asyncmy
import pytest
from tortoise.exceptions import IntegrityError

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import ChatStore, DuplicateMessage, MessageDraft
from gomicroim.modules.chat.storage import SqlChatStore
from tests.contract.conftest import Backend, MysqlServer
from tests.contract.test_chat_store import AB, NOW, A, B, C, draft, entry, seqs
from tests.fakes import MemoryChatStore

SQL_ONLY = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)
#: Does not fit the signed 64-bit id columns: the database refuses the draft.
TOO_BIG = 2**63


class Listener:
    def __init__(self) -> None:
        self.events: list[MessageCommitted] = []

    def __call__(self, events: Sequence[MessageCommitted]) -> None:
        self.events.extend(events)


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def store(backend: Backend, listener: Listener) -> ChatStore:
    return SqlChatStore(on_commit=listener) if backend.sql else MemoryChatStore(on_commit=listener)


def single(client_msg_id: str, *, sender: int = A, peer: int = B, **kw: int) -> MessageDraft:
    """A single-chat draft that creates its conversation if it is the first."""
    low, high = sorted((sender, peer))
    base = draft(client_msg_id, conversation_id=f"s:{low}:{high}", sender_id=sender, to=peer)
    return MessageDraft(
        **{
            **{f: getattr(base, f) for f in base.__struct_fields__},
            "participants": (low, high),
            **kw,
        }
    )


async def test_every_commit_reaches_the_listener_in_seq_order_even_if_its_caller_left(
    store: ChatStore, listener: Listener
) -> None:
    sends = [asyncio.create_task(store.append(single(f"m{i}"))) for i in range(20)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    for task in sends[::3]:
        task.cancel()  # clients that went away while their sends were committing
    await asyncio.gather(*sends, return_exceptions=True)
    await asyncio.sleep(0.05)

    stored = await seqs(store, AB)
    assert stored == list(range(1, len(stored) + 1))
    assert [e.message.seq for e in listener.events] == stored, "each commit handed over, in order"
    assert len(stored) >= 20 - len(sends[::3]), "only cancelled sends may be missing"


async def test_the_first_send_creates_the_conversation_and_both_entries(store: ChatStore) -> None:
    message = await store.append(single("first"))

    sender, peer = await entry(store, A, AB), await entry(store, B, AB)
    assert sender is not None
    assert peer is not None
    assert (sender.read_seq, sender.last_seq) == (1, 1)
    assert (peer.read_seq, peer.last_seq, peer.last_message) == (0, 1, message)


async def test_a_failed_first_send_leaves_no_conversation_behind(store: ChatStore) -> None:
    # Each engine refuses the value with its own error; none of them is a duplicate.
    with pytest.raises(Exception) as failure:  # noqa: PT011
        await store.append(single("bad", created_at=TOO_BIG))

    assert not isinstance(failure.value, DuplicateMessage)
    assert await store.entries(A) == []
    assert await store.entries(B) == []
    assert await store.find_sent(A, "bad") is None


async def test_a_draft_the_database_refuses_fails_alone(
    store: ChatStore, listener: Listener
) -> None:
    await store.append(single("warm-up"))

    results = await asyncio.gather(
        store.append(single("a")),
        store.append(single("bad", sender=A, peer=C, created_at=TOO_BIG)),
        store.append(single("b", sender=B, peer=A)),
        return_exceptions=True,
    )

    assert isinstance(results[0], MessageRead)
    assert isinstance(results[1], Exception)
    assert not isinstance(results[1], DuplicateMessage)
    assert isinstance(results[2], MessageRead)
    assert await seqs(store, AB) == [1, 2, 3]
    assert await seqs(store, "s:1:3") == []
    assert [e.message.client_msg_id for e in listener.events] == ["warm-up", "a", "b"]


async def test_a_duplicate_carries_the_message_stored_first(store: ChatStore) -> None:
    first = await store.append(single("c1", body="first"))

    with pytest.raises(DuplicateMessage) as duplicate:
        await store.append(single("c1", body="retry"))

    assert duplicate.value.message == first


@SQL_ONLY
async def test_a_clash_on_another_unique_key_is_a_failure_not_a_duplicate(
    backend: Backend, store: ChatStore, listener: Listener
) -> None:
    # A stray outbox row takes (s:1:2, 1): the send's outbox insert clashes with it.
    await backend.query(
        "INSERT INTO chat_outbox (conversation_id, seq, payload, created_at) "  # noqa: S608 - constants
        f"VALUES ('{AB}', 1, '{{}}', {NOW})"
    )

    results = await asyncio.gather(
        store.append(single("clash")),
        store.append(single("other", sender=A, peer=C)),
        return_exceptions=True,
    )

    assert isinstance(results[0], IntegrityError)
    assert not isinstance(results[0], DuplicateMessage)
    assert await store.find_sent(A, "clash") is None
    assert await entry(store, B, AB) is None, "nothing of the failed send is left"
    assert isinstance(results[1], MessageRead)
    assert [e.message.client_msg_id for e in listener.events] == ["other"]


# --- replicas: several committers on one database -------------------------------------------


@SQL_ONLY
async def test_two_committers_on_one_conversation_get_seqs_one_to_400(
    backend: Backend, listener: Listener
) -> None:
    replicas = [SqlChatStore(on_commit=listener), SqlChatStore(on_commit=listener)]
    group = "g:400"
    await replicas[0].ensure_conversation(group, "group", set(), NOW)

    results = await asyncio.gather(
        *(
            replicas[i % 2].append(
                draft(f"m{i}", conversation_id=group, sender_id=1 + i % 7, to=400)
            )
            for i in range(400)
        ),
        return_exceptions=True,
    )

    errors = [r for r in results if not isinstance(r, MessageRead)]
    assert errors == []
    assert sorted(r.seq for r in results if isinstance(r, MessageRead)) == list(range(1, 401))
    assert await seqs(replicas[1], group) == list(range(1, 401))


@SQL_ONLY
async def test_two_committers_over_many_new_conversations_lose_nothing(
    backend: Backend,
) -> None:
    # First sends racing on two replicas create the same conversations concurrently.
    replicas = [SqlChatStore(), SqlChatStore()]
    sends = [
        replicas[i % 2].append(single(f"x{i}", sender=1 + i % 25, peer=26 + i % 13))
        for i in range(650)
    ]

    results = await asyncio.gather(*sends, return_exceptions=True)

    errors = [r for r in results if not isinstance(r, MessageRead)]
    assert errors == []
    per_conversation: dict[str, list[int]] = {}
    for message in results:
        assert isinstance(message, MessageRead)
        per_conversation.setdefault(message.conversation_id, []).append(message.seq)
    for conversation, got in per_conversation.items():
        assert sorted(got) == list(range(1, len(got) + 1))
        assert await seqs(replicas[0], conversation) == sorted(got)


@pytest.mark.parametrize("backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
async def test_a_send_chosen_as_a_deadlock_victim_is_retried(
    backend: Backend,
    mysql_server: MysqlServer,
    listener: Listener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two transactions on one MariaDB: another client holds the sender's entry and then wants
    # the conversation row the send holds. InnoDB rolls back the lighter one, the send.
    store = SqlChatStore(on_commit=listener)
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    assert mysql_server.url is not None
    other = await _connect(mysql_server.url)
    try:
        async with other.cursor() as cursor:
            await cursor.execute("BEGIN")
            await cursor.execute(
                "SELECT read_seq FROM chat_entry WHERE user_id = %s AND conversation_id = %s"
                " FOR UPDATE",
                (A, AB),
            )
            # Weigh this transaction down so InnoDB picks the send as the victim.
            await cursor.executemany(
                "INSERT INTO chat_entry (user_id, conversation_id, read_seq, created_at)"
                " VALUES (%s, 'g:ballast', 0, 0)",
                [(u,) for u in range(1000, 1020)],
            )
            with caplog.at_level(logging.INFO, logger="gomicroim.retry"):
                send = asyncio.create_task(store.append(draft("m1")))
                await _until_waiting(cursor)
                await cursor.execute(
                    "SELECT last_seq FROM chat_conversation WHERE id = %s FOR UPDATE", (AB,)
                )
                await cursor.execute("ROLLBACK")
                message = await asyncio.wait_for(send, 30)
    finally:
        other.close()

    assert message.seq == 1
    assert [e.message for e in listener.events] == [message]
    retries = [r for r in caplog.records if r.getMessage() == "transaction retried"]
    assert retries, "the send was not chosen as the deadlock victim; the test proved nothing"
    assert "Deadlock" in retries[0].__dict__["reason"]


async def _connect(url: str) -> asyncmy.Connection:
    parts = urlsplit(url)
    return await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        db=parts.path.lstrip("/"),
        autocommit=False,
    )


async def _until_waiting(cursor: asyncmy.cursors.Cursor) -> None:
    """Until some other transaction waits for a lock this connection holds."""
    for _ in range(100):
        await cursor.execute(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'"
        )
        (waiting,) = await cursor.fetchone()
        if waiting:
            return
        # InnoDB refreshes innodb_trx only when it was not read for 0.1 s.
        await asyncio.sleep(0.15)
    raise AssertionError("the send never waited for the entry lock")


@SQL_ONLY
async def test_a_last_message_written_by_another_version_still_lists(
    backend: Backend, store: ChatStore
) -> None:
    await store.append(single("m1"))
    # A newer release stored an extra field; this one must still list the conversation.
    await backend.query(
        "UPDATE chat_conversation SET last_message = '"
        '{"conversation_id":"s:1:2","seq":1,"sender_id":1,"to":2,"session_type":"single",'
        '"client_msg_id":"m1","msg_type":"text","body":"hi","created_at":1700000000000,'
        """"reactions":["+1"]}'"""
    )

    listed = await entry(store, B, AB)

    assert listed is not None
    assert listed.last_message is not None
    assert listed.last_message.body == "hi"
