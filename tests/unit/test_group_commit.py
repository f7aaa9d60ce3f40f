"""The group committer's queueing and error paths, over a fake batch writer (the adapter seam).

The same paths run on SQLite and MariaDB in tests/contract/test_chat_store.py; here the writer
injects what a real database does rarely and not on demand: a deadlock in the middle of a
batch, a clash on another unique key, a commit that never returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncmy.errors
import pytest
from tortoise.exceptions import IntegrityError, OperationalError

from gomicroim.infra.retry import RetryPolicy
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import DuplicateMessage, MessageDraft
from gomicroim.modules.chat.storage.batch_sql import Outcome
from gomicroim.modules.chat.storage.group_commit import (
    GroupCommitter,
    SendInterrupted,
    SendQueueFull,
)

FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.0)


def draft(client_msg_id: str, sender: int = 1, conversation: str = "s:1:2") -> MessageDraft:
    return MessageDraft(
        conversation_id=conversation,
        session_type="single",
        sender_id=sender,
        sender_device_id="d1",
        to=2,
        client_msg_id=client_msg_id,
        msg_type="text",
        body="hi",
        created_at=1000,
    )


def deadlock() -> OperationalError:
    return OperationalError(asyncmy.errors.OperationalError(1213, "Deadlock found"))


class FakeWriter:
    """Stores drafts like the SQL writer; ``faults`` are raised by the next commits, in turn."""

    def __init__(self) -> None:
        self.stored: dict[tuple[int, str], MessageRead] = {}
        self.seq: dict[str, int] = {}
        self.faults: list[Exception] = []
        self.bad: set[str] = set()  # client ids the database refuses
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def commit(self, drafts: Sequence[MessageDraft]) -> list[Outcome]:
        self.batches.append([d.client_msg_id for d in drafts])
        if self.gate is not None:
            await self.gate.wait()
        if self.faults:
            raise self.faults.pop(0)
        if any(d.client_msg_id in self.bad for d in drafts):
            raise OperationalError("Out of range value for column 'sender_id'")
        outcomes: list[Outcome] = []
        for d in drafts:
            key = (d.sender_id, d.client_msg_id)
            if key in self.stored:
                outcomes.append(DuplicateMessage(self.stored[key]))
                continue
            seq = self.seq.get(d.conversation_id, 0) + 1
            self.seq[d.conversation_id] = seq
            message = d.at_seq(seq)
            self.stored[key] = message
            outcomes.append(message)
        return outcomes

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        return self.stored.get((sender_id, client_msg_id))


class Listener:
    def __init__(self) -> None:
        self.events: list[MessageCommitted] = []

    def __call__(self, events: Sequence[MessageCommitted]) -> None:
        self.events.extend(events)

    def ids(self) -> list[str]:
        return [e.message.client_msg_id for e in self.events]


def committer(writer: FakeWriter, listener: Listener) -> GroupCommitter:
    return GroupCommitter(writer=writer, listener=listener, retry=FAST_RETRY)


async def test_a_sender_cancelled_after_commit_still_has_its_message_handed_over() -> None:
    writer, listener = FakeWriter(), Listener()
    commits = committer(writer, listener)
    writer.gate = asyncio.Event()
    senders = [asyncio.create_task(commits.append(draft(f"m{i}"))) for i in range(3)]
    await asyncio.sleep(0)  # all three queued, the batch is committing
    await asyncio.sleep(0)
    senders[1].cancel()  # the client of m1 went away while its transaction ran
    writer.gate.set()
    results = await asyncio.gather(*senders, return_exceptions=True)

    assert isinstance(results[1], asyncio.CancelledError)
    assert listener.ids() == ["m0", "m1", "m2"], "every committed message, in seq order"
    assert [e.message.seq for e in listener.events] == [1, 2, 3]


async def test_a_draft_the_database_refuses_fails_alone() -> None:
    writer, listener = FakeWriter(), Listener()
    writer.bad = {"bad"}
    commits = committer(writer, listener)

    results = await asyncio.gather(
        commits.append(draft("a")),
        commits.append(draft("bad")),
        commits.append(draft("b")),
        return_exceptions=True,
    )

    assert isinstance(results[0], MessageRead)
    assert isinstance(results[1], OperationalError)
    assert not isinstance(results[1], DuplicateMessage)
    assert isinstance(results[2], MessageRead)
    assert listener.ids() == ["a", "b"]


async def test_only_a_clash_on_the_client_id_is_a_duplicate() -> None:
    writer, listener = FakeWriter(), Listener()
    commits = committer(writer, listener)
    first = await commits.append(draft("c1"))

    # Another replica stored c1 after our batch looked: the insert hits the unique key.
    writer.faults = [IntegrityError("Duplicate entry '1-c1' for key 'sender_id'")]
    with pytest.raises(DuplicateMessage) as duplicate:
        await commits.append(draft("c1"))
    assert duplicate.value.message == first

    # A clash on any other key is a real failure for that sender.
    writer.faults = [IntegrityError("Duplicate entry 's:1:2-2' for key 'conversation_id'")]
    with pytest.raises(IntegrityError):
        await commits.append(draft("c2"))
    assert await writer.find_sent(1, "c2") is None
    assert listener.ids() == ["c1"]


async def test_a_deadlocked_batch_is_retried_whole() -> None:
    writer, listener = FakeWriter(), Listener()
    writer.faults = [deadlock()]
    commits = committer(writer, listener)

    results = await asyncio.gather(*(commits.append(draft(f"m{i}")) for i in range(3)))

    assert [m.seq for m in results] == [1, 2, 3]
    assert writer.batches == [["m0", "m1", "m2"], ["m0", "m1", "m2"]], "retried, no fallback"


async def test_a_deadlock_of_a_single_send_is_retried() -> None:
    writer, listener = FakeWriter(), Listener()
    writer.faults = [deadlock(), deadlock()]
    commits = committer(writer, listener)

    message = await commits.append(draft("m0"))

    assert message.seq == 1
    assert listener.ids() == ["m0"]


async def test_a_cancelled_drain_fails_its_waiters_instead_of_leaving_them_hanging() -> None:
    writer, listener = FakeWriter(), Listener()
    writer.gate = asyncio.Event()
    commits = committer(writer, listener)
    senders = [asyncio.create_task(commits.append(draft(f"m{i}"))) for i in range(2)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    (drain,) = [t for t in asyncio.all_tasks() if t.get_name() == "chat-group-commit"]
    drain.cancel()  # e.g. the event loop shutting down

    results = await asyncio.wait_for(asyncio.gather(*senders, return_exceptions=True), 2)

    assert all(isinstance(r, SendInterrupted) for r in results), results
    assert all(r.code == "send_interrupted" for r in results if isinstance(r, SendInterrupted))
    # The committer works again for the next send.
    writer.gate.set()
    assert (await commits.append(draft("later"))).client_msg_id == "later"


async def test_sends_beyond_the_queue_bound_answer_busy_and_are_never_stored() -> None:
    writer, listener = FakeWriter(), Listener()
    commits = GroupCommitter(writer=writer, listener=listener, max_pending=2, retry=FAST_RETRY)
    writer.gate = asyncio.Event()  # the database is stuck
    first = asyncio.create_task(commits.append(draft("m0")))
    await asyncio.sleep(0)  # m0's batch is committing; the queue is empty again
    waiting = [asyncio.create_task(commits.append(draft(f"m{i}"))) for i in (1, 2)]
    await asyncio.sleep(0)

    with pytest.raises(SendQueueFull) as full:
        await commits.append(draft("m3"))

    assert (full.value.status, full.value.code) == (503, "server_busy")
    assert commits.pending == 2
    writer.gate.set()
    await asyncio.gather(first, *waiting)
    assert sorted(key[1] for key in writer.stored) == ["m0", "m1", "m2"]
    assert commits.pending == 0
