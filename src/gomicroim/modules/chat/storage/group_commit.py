# ruff: noqa: S608 - only placeholders are formatted into the SQL; values are parameters.
"""Group commit for sends: concurrent drafts share one transaction, one fsync, a few statements.

While one batch commits, new sends queue up; the next batch takes them all. A lone send is
committed at once (no timer), so latency at low load is one transaction, and under load the
per-message cost of commits and round trips shrinks with the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import DuplicateMessage, MessageDraft

log = logging.getLogger("gomicroim.chat")

_encode = msgspec.json.Encoder().encode

#: What one draft of a batch came to: stored, a duplicate (itself an exception), or a failure.
Outcome = MessageRead | Exception


class _Sql:
    """The batch's statements in the connection's dialect; values always travel as parameters."""

    def __init__(self, dialect: str):
        self.mysql = dialect == "mysql"
        self.p = "%s" if self.mysql else "?"

    def marks(self, n: int) -> str:
        return ", ".join([self.p] * n)

    def lock_conversations(self, n: int) -> str:
        lock = " FOR UPDATE" if self.mysql else ""
        return f"SELECT id, last_seq FROM chat_conversation WHERE id IN ({self.marks(n)}){lock}"

    def sent(self, senders: int, ids: int) -> str:
        return (
            "SELECT sender_id, client_msg_id FROM chat_message"
            f" WHERE sender_id IN ({self.marks(senders)}) AND client_msg_id IN ({self.marks(ids)})"
        )

    def insert_messages(self) -> str:
        return (
            "INSERT INTO chat_message (conversation_id, seq, sender_id, to_id, session_type,"
            f" client_msg_id, msg_type, body, created_at) VALUES ({self.marks(9)})"
        )

    def update_conversation(self) -> str:
        p = self.p
        return (
            f"UPDATE chat_conversation SET last_seq = {p}, last_message = {p}, updated_at = {p}"
            f" WHERE id = {p}"
        )

    def advance_senders(self) -> str:
        p = self.p
        head = (
            "INSERT INTO chat_entry (user_id, conversation_id, read_seq, created_at)"
            f" VALUES ({p}, {p}, {p}, {p})"
        )
        if self.mysql:
            return head + " ON DUPLICATE KEY UPDATE read_seq = GREATEST(read_seq, VALUES(read_seq))"
        return (
            head + " ON CONFLICT (user_id, conversation_id)"
            " DO UPDATE SET read_seq = MAX(read_seq, excluded.read_seq)"
        )

    def insert_outbox(self) -> str:
        return (
            "INSERT INTO chat_outbox (conversation_id, seq, payload, created_at)"
            f" VALUES ({self.marks(4)})"
        )


class GroupCommitter:
    """Queues drafts and commits them in batches."""

    def __init__(self, *, max_batch: int = 256):
        self._max_batch = max_batch
        self._queue: list[tuple[MessageDraft, asyncio.Future[MessageRead]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def append(self, draft: MessageDraft) -> MessageRead:
        """Commit ``draft`` with whatever else is waiting; raise :class:`DuplicateMessage`."""
        future: asyncio.Future[MessageRead] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="chat-group-commit")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            drafts = [draft for draft, _ in batch]
            try:
                outcomes = await self._commit_batch(drafts)
            except (IntegrityError, OperationalError) as exc:
                # Another writer (a replica) raced us on a key: settle each draft on its own.
                log.info("group commit fell back to single commits", extra={"reason": str(exc)})
                outcomes = [await self._commit_alone(d) for d in drafts]
            except Exception as exc:
                # Every waiting sender must hear of it; the drain itself carries on.
                outcomes = [exc] * len(drafts)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _commit_alone(self, draft: MessageDraft) -> Outcome:
        """A batch of one; a key clash now can only be the same client id stored meanwhile."""
        try:
            (outcome,) = await self._commit_batch([draft])
        except IntegrityError:
            return DuplicateMessage(draft.client_msg_id)
        except Exception as exc:
            return exc
        return outcome

    async def _commit_batch(self, drafts: Sequence[MessageDraft]) -> list[Outcome]:
        async with in_transaction() as db:
            sql = _Sql(db.capabilities.dialect)
            last_seq = await _lock_conversations(db, sql, drafts)
            taken = await _already_sent(db, sql, drafts)
            outcomes: list[Outcome] = []
            stored: list[tuple[MessageDraft, MessageRead]] = []
            for draft in drafts:
                key = (draft.sender_id, draft.client_msg_id)
                if key in taken:
                    outcomes.append(DuplicateMessage(draft.client_msg_id))
                    continue
                taken.add(key)
                seq = last_seq[draft.conversation_id] + 1
                last_seq[draft.conversation_id] = seq
                message = _message_from_draft(draft, seq)
                stored.append((draft, message))
                outcomes.append(message)
            if stored:
                await _write(db, sql, stored)
        return outcomes


async def _lock_conversations(
    db: BaseDBAsyncClient, sql: _Sql, drafts: Sequence[MessageDraft]
) -> dict[str, int]:
    ids = sorted({d.conversation_id for d in drafts})
    rows = await db.execute_query_dict(sql.lock_conversations(len(ids)), ids)
    last_seq = {str(r["id"]): int(r["last_seq"]) for r in rows}
    missing = set(ids) - set(last_seq)
    if missing:
        raise RuntimeError(f"conversations not created before append: {sorted(missing)}")
    return last_seq


async def _already_sent(
    db: BaseDBAsyncClient, sql: _Sql, drafts: Sequence[MessageDraft]
) -> set[tuple[int, str]]:
    senders = sorted({d.sender_id for d in drafts})
    ids = sorted({d.client_msg_id for d in drafts})
    rows = await db.execute_query_dict(sql.sent(len(senders), len(ids)), [*senders, *ids])
    wanted = {(d.sender_id, d.client_msg_id) for d in drafts}
    found = {(int(r["sender_id"]), str(r["client_msg_id"])) for r in rows}
    return found & wanted


async def _write(
    db: BaseDBAsyncClient, sql: _Sql, stored: list[tuple[MessageDraft, MessageRead]]
) -> None:
    await db.execute_many(
        sql.insert_messages(),
        [
            [
                m.conversation_id,
                m.seq,
                m.sender_id,
                m.to,
                m.session_type,
                m.client_msg_id,
                m.msg_type,
                m.body,
                m.created_at,
            ]
            for _, m in stored
        ],
    )
    newest: dict[str, MessageRead] = {}
    senders: dict[tuple[int, str], tuple[int, int]] = {}
    for _, m in stored:
        newest[m.conversation_id] = m
        senders[(m.sender_id, m.conversation_id)] = (m.seq, m.created_at)
    await db.execute_many(
        sql.update_conversation(),
        [[m.seq, _encode(m).decode(), m.created_at, cid] for cid, m in newest.items()],
    )
    await db.execute_many(
        sql.advance_senders(),
        [[user, cid, seq, at] for (user, cid), (seq, at) in senders.items()],
    )
    await db.execute_many(
        sql.insert_outbox(),
        [[m.conversation_id, m.seq, _committed(d, m), m.created_at] for d, m in stored],
    )


def _committed(draft: MessageDraft, message: MessageRead) -> str:
    event = MessageCommitted(message=message, sender_device_id=draft.sender_device_id)
    return _encode(event).decode()


def _message_from_draft(draft: MessageDraft, seq: int) -> MessageRead:
    """The stored form of ``draft`` at ``seq``."""
    return MessageRead(
        conversation_id=draft.conversation_id,
        seq=seq,
        sender_id=draft.sender_id,
        to=draft.to,
        session_type=draft.session_type,
        client_msg_id=draft.client_msg_id,
        msg_type=draft.msg_type,
        body=draft.body,
        created_at=draft.created_at,
    )
