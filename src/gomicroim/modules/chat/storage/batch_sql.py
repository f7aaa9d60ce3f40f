# ruff: noqa: S608 - only placeholders are formatted into the SQL; values are parameters.
"""One send batch as one SQL transaction: conversations, seqs, history, entries and outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gomicroim.caching import Cache
from gomicroim.infra.sqlite_unit import run_unit
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead, MsgType, SessionType
from gomicroim.modules.chat.ports import DuplicateMessage, MessageDraft
from gomicroim.modules.chat.storage import codec

#: What one draft of a batch came to: stored, a duplicate (itself an exception), or a failure.
Outcome = MessageRead | Exception

#: Which SQL the server speaks where the engines differ.
Flavour = Literal["sqlite", "mariadb", "mysql-legacy", "mysql"]

_MESSAGE_COLUMNS = (
    "conversation_id, seq, sender_id, to_id, session_type, client_msg_id, msg_type, body,"
    " created_at"
)


def flavour_of(dialect: str, version: str) -> Flavour:
    """The flavour of a server from tortoise's dialect and ``SELECT VERSION()``."""
    if dialect != "mysql":
        return "sqlite"
    if "mariadb" in version.lower():
        return "mariadb"
    numbers = [int(part) for part in version.split("-")[0].split(".")[:3] if part.isdigit()]
    # The row alias of INSERT ... AS new arrived in 8.0.19; VALUES() is deprecated from 8.0.20.
    return "mysql" if tuple(numbers) >= (8, 0, 19) else "mysql-legacy"


class Statements:
    """The batch's statements in the server's flavour; values always travel as parameters."""

    def __init__(self, flavour: Flavour):
        self.flavour = flavour
        self.mysql = flavour != "sqlite"
        self.p = "%s" if self.mysql else "?"

    def marks(self, n: int) -> str:
        """``n`` placeholders."""
        return ", ".join([self.p] * n)

    def create_conversations(self) -> str:
        """Create a conversation if missing (and lock it on MySQL)."""
        # On MySQL the no-op update takes the row's exclusive lock even when it exists, so the
        # batch locks rows in one (sorted) order whether it creates them or not, and never
        # upgrades a shared lock (the deadlock INSERT IGNORE would invite).
        head = (
            "INSERT INTO chat_conversation (id, session_type, last_seq, last_message, updated_at,"
            f" member_version) VALUES ({self.p}, {self.p}, 0, NULL, {self.p}, 0)"
        )
        if self.mysql:
            return head + " ON DUPLICATE KEY UPDATE id = id"
        return head + " ON CONFLICT (id) DO NOTHING"

    def lock_conversations(self, n: int) -> str:
        """Read and lock ``n`` conversations' seq counters."""
        lock = " FOR UPDATE" if self.mysql else ""
        return f"SELECT id, last_seq FROM chat_conversation WHERE id IN ({self.marks(n)}){lock}"

    def sent(self, senders: int, ids: int) -> str:
        """Messages already stored under any of these senders and client ids."""
        return (
            f"SELECT {_MESSAGE_COLUMNS} FROM chat_message"
            f" WHERE sender_id IN ({self.marks(senders)}) AND client_msg_id IN ({self.marks(ids)})"
        )

    def insert_messages(self) -> str:
        """Store one message."""
        return f"INSERT INTO chat_message ({_MESSAGE_COLUMNS}) VALUES ({self.marks(9)})"

    def update_conversation(self) -> str:
        """Move a conversation's last seq and last message."""
        p = self.p
        return (
            f"UPDATE chat_conversation SET last_seq = {p}, last_message = {p}, updated_at = {p}"
            f" WHERE id = {p}"
        )

    def create_entries(self) -> str:
        """Give a user an entry if missing, nothing read."""
        head = (
            "INSERT INTO chat_entry (user_id, conversation_id, read_seq, created_at)"
            f" VALUES ({self.marks(4)})"
        )
        if self.mysql:
            return head + " ON DUPLICATE KEY UPDATE read_seq = read_seq"
        return head + " ON CONFLICT (user_id, conversation_id) DO NOTHING"

    def advance_senders(self) -> str:
        """Move a sender's read position forward to its message (creating the entry)."""
        head = (
            "INSERT INTO chat_entry (user_id, conversation_id, read_seq, created_at)"
            f" VALUES ({self.marks(4)})"
        )
        if self.flavour == "mysql":
            return (
                head + " AS new ON DUPLICATE KEY UPDATE"
                " read_seq = GREATEST(chat_entry.read_seq, new.read_seq)"
            )
        if self.mysql:
            return head + " ON DUPLICATE KEY UPDATE read_seq = GREATEST(read_seq, VALUES(read_seq))"
        return (
            head + " ON CONFLICT (user_id, conversation_id)"
            " DO UPDATE SET read_seq = MAX(read_seq, excluded.read_seq)"
        )

    def insert_outbox(self) -> str:
        """Write one outbox row, claimed by the committing node."""
        return (
            "INSERT INTO chat_outbox (conversation_id, seq, payload, created_at, claimed_by,"
            f" claim_until) VALUES ({self.marks(6)})"
        )


class SqlBatchWriter:
    """Commits a batch of drafts in one transaction; the :class:`GroupCommitter`'s writer.

    Seqs are allocated under the conversation rows' locks, taken in sorted id order (``FOR
    UPDATE`` on MySQL; SQLite has one writer), so commit order equals seq order across
    replicas and batches queue instead of deadlocking.

    Args:
        owner: This node's id; its relay publishes the batch's outbox rows from memory.
        lease_ms: How long the rows stay claimed by ``owner`` before any relay may take them.
        known: Conversations known to exist (never deleted), shared with the store.
    """

    def __init__(self, *, owner: str, lease_ms: int, known: Cache[str, bool]):
        self._owner = owner
        self._lease_ms = lease_ms
        self._known = known
        self._sql: Statements | None = None

    async def commit(self, drafts: Sequence[MessageDraft]) -> list[Outcome]:
        """Store every draft that is not a duplicate; all or nothing for the batch.

        One unit of work (:func:`run_unit`): on SQLite the whole transaction is one trip to
        the connection's thread, so it only runs statements; the cache is read before.
        """
        first = {d.conversation_id: d for d in reversed(drafts)}
        unknown = {cid for cid in first if not self._known.get(cid)}
        outcomes = await run_unit(lambda db: self._commit_in(db, drafts, first, unknown))
        self._remember(unknown)
        return outcomes

    async def _commit_in(
        self,
        db: BaseDBAsyncClient,
        drafts: Sequence[MessageDraft],
        first: dict[str, MessageDraft],
        unknown: set[str],
    ) -> list[Outcome]:
        sql = await self._statements(db)
        if unknown:
            # Every conversation of the batch, in sorted order, so row locks keep one order.
            await db.execute_many(
                sql.create_conversations(),
                [[cid, first[cid].session_type, first[cid].created_at] for cid in sorted(first)],
            )
        last_seq = await _lock_conversations(db, sql, drafts)
        taken = await _already_sent(db, sql, drafts)
        outcomes: list[Outcome] = []
        stored: list[tuple[MessageDraft, MessageRead]] = []
        for draft in drafts:
            key = (draft.sender_id, draft.client_msg_id)
            if key in taken:
                outcomes.append(DuplicateMessage(taken[key]))
                continue
            seq = last_seq[draft.conversation_id] + 1
            last_seq[draft.conversation_id] = seq
            message = draft.at_seq(seq)
            taken[key] = message
            stored.append((draft, message))
            outcomes.append(message)
        await _create_entries(db, sql, [d for d in drafts if d.conversation_id in unknown])
        if stored:
            await self._write(db, sql, stored)
        return outcomes

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        """The committed message of (sender, client id), read outside any batch."""
        async with in_transaction() as db:
            sql = await self._statements(db)
            rows = await db.execute_query_dict(sql.sent(1, 1), [sender_id, client_msg_id])
        return _row_message(rows[0]) if rows else None

    async def _statements(self, db: BaseDBAsyncClient) -> Statements:
        if self._sql is None:
            version = ""
            if db.capabilities.dialect == "mysql":
                rows = await db.execute_query_dict("SELECT VERSION() AS v")
                version = str(rows[0]["v"])
            self._sql = Statements(flavour_of(db.capabilities.dialect, version))
        return self._sql

    def _remember(self, conversation_ids: set[str]) -> None:
        for conversation_id in conversation_ids:
            self._known.put(conversation_id, True)

    async def _write(
        self, db: BaseDBAsyncClient, sql: Statements, stored: list[tuple[MessageDraft, MessageRead]]
    ) -> None:
        await db.execute_many(sql.insert_messages(), [_message_params(m) for _, m in stored])
        newest: dict[str, MessageRead] = {}
        senders: dict[tuple[int, str], tuple[int, int]] = {}
        for d, m in stored:
            newest[m.conversation_id] = m
            if d.advance_sender:
                senders[(m.sender_id, m.conversation_id)] = (m.seq, m.created_at)
        await db.execute_many(
            sql.update_conversation(),
            [[m.seq, codec.encode(m), m.created_at, cid] for cid, m in newest.items()],
        )
        if senders:
            await db.execute_many(
                sql.advance_senders(),
                [[user, cid, seq, at] for (user, cid), (seq, at) in senders.items()],
            )
        await db.execute_many(
            sql.insert_outbox(),
            [
                [
                    m.conversation_id,
                    m.seq,
                    codec.encode(MessageCommitted(message=m, sender_device_id=d.sender_device_id)),
                    m.created_at,
                    self._owner,
                    m.created_at + self._lease_ms,
                ]
                for d, m in stored
            ],
        )


async def _lock_conversations(
    db: BaseDBAsyncClient, sql: Statements, drafts: Sequence[MessageDraft]
) -> dict[str, int]:
    ids = sorted({d.conversation_id for d in drafts})
    rows = await db.execute_query_dict(sql.lock_conversations(len(ids)), ids)
    # Every id is there: unknown conversations were created above, known ones are never deleted.
    return {str(r["id"]): int(r["last_seq"]) for r in rows}


async def _already_sent(
    db: BaseDBAsyncClient, sql: Statements, drafts: Sequence[MessageDraft]
) -> dict[tuple[int, str], MessageRead]:
    senders = sorted({d.sender_id for d in drafts})
    ids = sorted({d.client_msg_id for d in drafts})
    rows = await db.execute_query_dict(sql.sent(len(senders), len(ids)), [*senders, *ids])
    wanted = {(d.sender_id, d.client_msg_id) for d in drafts}
    found = {(int(r["sender_id"]), str(r["client_msg_id"])): r for r in rows}
    return {key: _row_message(row) for key, row in found.items() if key in wanted}


async def _create_entries(
    db: BaseDBAsyncClient, sql: Statements, drafts: Sequence[MessageDraft]
) -> None:
    """Give a new conversation's participants their entries (nothing read yet)."""
    rows = sorted({(u, d.conversation_id, d.created_at) for d in drafts for u in d.participants})
    if rows:
        await db.execute_many(sql.create_entries(), [[u, cid, 0, at] for u, cid, at in rows])


def _message_params(m: MessageRead) -> list[Any]:
    return [
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


def _row_message(row: dict[str, Any]) -> MessageRead:
    return MessageRead(
        conversation_id=str(row["conversation_id"]),
        seq=int(row["seq"]),
        sender_id=int(row["sender_id"]),
        to=int(row["to_id"]),
        session_type=cast(SessionType, row["session_type"]),
        client_msg_id=str(row["client_msg_id"]),
        msg_type=cast(MsgType, row["msg_type"]),
        body=str(row["body"]),
        created_at=int(row["created_at"]),
    )
