"""Timeline storage on the relational database: tortoise models and `SqlTimelineStore`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import msgspec
from tortoise import fields, models
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from gomicroim.infra.retry import RetryPolicy, is_transient
from gomicroim.infra.sqlite_unit import run_unit
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage, TimelineEntry, entry_kind
from gomicroim.modules.timeline.storage.batch import chunks

log = logging.getLogger("gomicroim.timeline")

_encode = msgspec.json.Encoder().encode
_decode_message = msgspec.json.Decoder(MessageRead).decode


class Cursor(models.Model):
    """The last user seq handed out in one user timeline. Never lowered, never deleted."""

    user_id = fields.BigIntField(primary_key=True, generated=False)
    last_seq = fields.BigIntField(default=0)

    class Meta:
        table = "timeline_cursor"


class Entry(models.Model):
    """One message in one user timeline at its user seq, kept for timeline.retention_days."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    user_seq = fields.BigIntField()
    conversation_id = fields.CharField(max_length=64)
    seq = fields.BigIntField()
    message = fields.TextField()
    created_at = fields.BigIntField(db_index=True)
    #: The message's revision: a recall or an edit is a further entry of the same seq.
    revision = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "timeline_entry"
        unique_together = (
            ("user_id", "user_seq"),
            ("conversation_id", "seq", "revision", "user_id"),
        )


class _MissingCursors(Exception):
    """Some users have no cursor row yet; raised inside the append to roll it back."""

    def __init__(self, user_ids: list[int]):
        super().__init__(f"{len(user_ids)} users have no timeline cursor yet")
        self.user_ids = user_ids


def _retryable(exc: Exception) -> bool:
    """Whether a failed append transaction may simply run again."""
    # IntegrityError: a concurrent append of the same message stored (user, conversation,
    # seq) after this one looked; the retry finds it and answers with its seq.
    return isinstance(exc, IntegrityError) or is_transient(exc)


class _Statements:
    """The append path's statements, in MySQL's (``%s``) or SQLite's (``?``) parameter style.

    Only placeholders are formatted into them; every value travels as a parameter.
    """

    def __init__(self, dialect: str):
        self._mysql = dialect == "mysql"
        self._mark = "%s" if self._mysql else "?"

    def _marks(self, n: int) -> str:
        return ", ".join([self._mark] * n)

    def insert_entries(self, n: int) -> str:
        """Insert ``n`` entries (seven parameters each, in column order) in one statement."""
        row = f"({self._marks(7)})"
        return (
            "INSERT INTO timeline_entry"  # noqa: S608
            " (user_id, user_seq, conversation_id, seq, message, created_at, revision)"
            f" VALUES {', '.join([row] * n)}"
        )

    def held(self, messages: int) -> str:
        """Every user's entries of these messages, each given as (conversation, seq, revision).

        One index probe per message, on the key's leading columns. Lists of conversations and
        of seqs would match every pair of them: single chats advance their seqs in step, so
        a batch of k sends probed and returned about k² messages' entries.
        """
        m = self._mark
        one = f"(conversation_id = {m} AND seq = {m} AND revision = {m})"
        return (
            "SELECT user_id, user_seq, conversation_id, seq, revision"  # noqa: S608
            f" FROM timeline_entry WHERE {' OR '.join([one] * messages)}"
        )

    def rewrite_older(self, n: int) -> str:
        """Give ``n`` users' older revisions of one message its latest text (no stale body)."""
        m = self._mark
        return (
            f"UPDATE timeline_entry SET message = {m}"  # noqa: S608
            f" WHERE user_id IN ({self._marks(n)}) AND conversation_id = {m} AND seq = {m}"
            f" AND revision < {m}"
        )

    def bump(self, n: int) -> str:
        """Raise ``n`` users' cursors by the first parameter."""
        return (
            f"UPDATE timeline_cursor SET last_seq = last_seq + {self._mark}"  # noqa: S608
            f" WHERE user_id IN ({self._marks(n)})"
        )

    def cursors(self, n: int) -> str:
        """Read ``n`` users' cursors."""
        return (
            "SELECT user_id, last_seq FROM timeline_cursor"  # noqa: S608
            f" WHERE user_id IN ({self._marks(n)})"
        )

    def latest(self) -> str:
        """One user's cursor."""
        return f"SELECT last_seq FROM timeline_cursor WHERE user_id = {self._mark}"  # noqa: S608

    def page(self) -> str:
        """A user's entries in (after, latest], in user-seq order, at most a limit."""
        m = self._mark
        return (
            "SELECT user_seq, message, revision FROM timeline_entry"  # noqa: S608
            f" WHERE user_id = {m} AND user_seq > {m} AND user_seq <= {m}"
            f" ORDER BY user_seq LIMIT {m}"
        )

    def create_cursors(self, n: int) -> str:
        """Create ``n`` users' cursors at 0, leaving existing ones as they are."""
        rows = ", ".join([f"({self._mark}, 0)"] * n)
        # MySQL gets a no-op upsert: INSERT IGNORE would fetch and log a warning per duplicate.
        conflict = (
            " ON DUPLICATE KEY UPDATE user_id = user_id"
            if self._mysql
            else " ON CONFLICT DO NOTHING"
        )
        return f"INSERT INTO timeline_cursor (user_id, last_seq) VALUES {rows}{conflict}"  # noqa: S608


#: A timeline entry's identity per user: (conversation_id, seq, revision).
_Key = tuple[str, int, int]


async def _latest(db: BaseDBAsyncClient, sql: _Statements, user_id: int) -> int:
    rows = await db.execute_query_dict(sql.latest(), [user_id])
    return int(rows[0]["last_seq"]) if rows else 0


#: Messages per lookup of entries already held: SQLite parses a chain of ORs as a tree at most
#: 1,000 deep.
_MESSAGES_PER_HELD = 200

#: Entries per INSERT: 31,500 parameters, inside SQLite's 32,766 (and about 2 MB for MySQL).
_ENTRIES_PER_INSERT = 4500


async def _insert_entries(db: BaseDBAsyncClient, sql: _Statements, values: list[Any]) -> None:
    """Insert entries given as one flat list of parameters, seven per entry.

    Multi-row statements, not ``executemany``: on SQLite each row of an ``executemany`` gives up
    the GIL and takes it back, and while the event loop is busy every take-back waits for it,
    which made a 1,600-entry append take twice as long under load as alone.
    """
    for part in chunks(values, 7 * _ENTRIES_PER_INSERT):
        await db.execute_query(sql.insert_entries(len(part) // 7), part)


def _key(message: MessageRead) -> _Key:
    return (message.conversation_id, message.seq, message.revision)


def _by_message(
    items: list[tuple[MessageRead, set[int]]], results: list[dict[int, int]]
) -> dict[_Key, dict[int, int]]:
    return {_key(m): r for (m, _), r in zip(items, results, strict=True)}


def _unique(items: list[tuple[MessageRead, set[int]]]) -> list[tuple[MessageRead, set[int]]]:
    """Each (message, revision) once, with the union of its users, in batch order."""
    unique: dict[_Key, tuple[MessageRead, set[int]]] = {}
    for message, users in items:
        unique.setdefault(_key(message), (message, set()))[1].update(users)
    return list(unique.values())


class SqlTimelineStore:
    """``TimelineStore`` on the relational database (SQLite or MySQL/MariaDB).

    A user's seqs are allocated under the lock of their cursor row, inside the transaction that
    inserts the entries, so per user the commit order is the seq order: a reader syncing with
    ``after`` never skips a seq that commits later. On MySQL the lock is the row lock of
    ``UPDATE ... SET last_seq = last_seq + 1``, the append's first locking statement, so
    appends wait for each other rather than deadlock; SQLite has one writer, through
    tortoise's connection lock. An append costs four statements for up to ``max_in_list``
    recipients: find entries already there, bump cursors, read them back, insert entries.

    Args:
        prune_batch: entries deleted per statement when pruning.
        max_attempts: tries of an append that meets a deadlock or a concurrent duplicate.
        max_in_list: user ids per ``IN (...)`` list; SQLite takes at most 32766 parameters.
    """

    def __init__(
        self,
        *,
        prune_batch: int = 1000,
        max_attempts: int = 8,
        max_in_list: int = 5000,
        durable: bool = True,
    ):
        self._durable = durable
        self._prune_batch = prune_batch
        self._retry = RetryPolicy(attempts=max_attempts)
        self._max_in_list = max_in_list

    def _chunks(self, ids: list[int]) -> Iterator[list[int]]:
        return chunks(ids, self._max_in_list)

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        """Append one message; see :meth:`TimelineStore.append`."""
        return (await self.append_many([(message, user_ids)]))[0]

    async def append_many(self, items: list[tuple[MessageRead, set[int]]]) -> list[dict[int, int]]:
        """Append several messages in one transaction per attempt, in order.

        A user's seqs for the batch come from one cursor increment by the number of messages
        they get, so a batch costs the same few statements as a single append.
        """
        if not any(users for _, users in items):
            return [{} for _ in items]
        unique = _unique(items)
        seqs = await self._append_unique(unique)
        if len(unique) == len(items):
            # Each message once (the usual batch): its users are exactly the answer's keys.
            return [seqs[_key(m)] for m, _ in items]
        return [{u: seqs[_key(m)][u] for u in users} for m, users in items]

    async def _append_unique(
        self, items: list[tuple[MessageRead, set[int]]]
    ) -> dict[_Key, dict[int, int]]:
        async def attempt() -> dict[_Key, dict[int, int]]:
            try:
                return await self._append_once(items)
            except _MissingCursors as missing:
                # Cursors are never deleted: once created, the rerun finds them all.
                await self._create_cursors(missing.user_ids)
                return await self._append_once(items)

        return await self._retry.run(attempt, what="timeline append", retry_if=_retryable)

    async def _create_cursors(self, user_ids: list[int]) -> None:
        # Committed on its own, before the append's transaction runs again: creating cursors in
        # that transaction would race concurrent first appends into deadlocks on MySQL's gap locks.
        db = Cursor._meta.db
        sql = _Statements(db.capabilities.dialect)
        for part in self._chunks(user_ids):
            await db.execute_query(sql.create_cursors(len(part)), part)

    async def _append_once(
        self, items: list[tuple[MessageRead, set[int]]]
    ) -> dict[_Key, dict[int, int]]:
        # Plain SQL: for a 2000-member group, ORM objects and query building cost more than
        # the database does.
        return await run_unit(lambda db: self._append_in(db, items), durable=self._durable)

    async def _append_in(
        self, db: BaseDBAsyncClient, items: list[tuple[MessageRead, set[int]]]
    ) -> dict[_Key, dict[int, int]]:
        """The append's transaction: a unit of work, so it awaits nothing but ``db``."""
        results: list[dict[int, int]] = [{} for _ in items]
        sql = _Statements(db.capabilities.dialect)
        held = await self._held(db, sql, items)
        # user -> indexes of the batch's messages they still need, in batch order
        wanted: dict[int, list[int]] = {}
        for index, (message, users) in enumerate(items):
            key = _key(message)
            for user in sorted(users):
                seq = held.get((user, *key))
                if seq is not None:
                    results[index][user] = seq
                else:
                    wanted.setdefault(user, []).append(index)
        if not wanted:
            return _by_message(items, results)
        latest = await self._bump(db, sql, {u: len(idx) for u, idx in wanted.items()})
        missing = [u for u in wanted if u not in latest]
        if missing:
            raise _MissingCursors(missing)
        rows: list[Any] = []
        payloads: dict[int, str] = {}
        for user, indexes in wanted.items():
            first = latest[user] - len(indexes) + 1
            for offset, index in enumerate(indexes):
                message = items[index][0]
                if index not in payloads:
                    payloads[index] = _encode(message).decode()
                seq = first + offset
                results[index][user] = seq
                rows += (
                    user,
                    seq,
                    message.conversation_id,
                    message.seq,
                    payloads[index],
                    message.created_at,
                    message.revision,
                )
        await _insert_entries(db, sql, rows)
        await self._rewrite_older(db, sql, items, payloads, wanted)
        return _by_message(items, results)

    async def _rewrite_older(
        self,
        db: BaseDBAsyncClient,
        sql: _Statements,
        items: list[tuple[MessageRead, set[int]]],
        payloads: dict[int, str],
        wanted: dict[int, list[int]],
    ) -> None:
        """A change (revision > 0) also replaces its users' older copies of the message."""
        for index, (message, _) in enumerate(items):
            if message.revision == 0 or index not in payloads:
                continue
            users = sorted(u for u, indexes in wanted.items() if index in indexes)
            for part in self._chunks(users):
                await db.execute_query(
                    sql.rewrite_older(len(part)),
                    [
                        payloads[index],
                        *part,
                        message.conversation_id,
                        message.seq,
                        message.revision,
                    ],
                )

    async def _held(
        self, db: BaseDBAsyncClient, sql: _Statements, items: list[tuple[MessageRead, set[int]]]
    ) -> dict[tuple[int, str, int, int], int]:
        """(user, conversation, seq, revision) -> user seq for entries users already have."""
        keys = [_key(m) for m, _ in items]
        wanted: set[tuple[int, str, int, int]] | None = None
        found: dict[tuple[int, str, int, int], int] = {}
        for part in chunks(keys, _MESSAGES_PER_HELD):
            rows = await db.execute_query_dict(
                sql.held(len(part)), [value for key in part for value in key]
            )
            if rows and wanted is None:
                # Only a replay finds entries; a first append skips building this set.
                wanted = {(u, *_key(m)) for m, us in items for u in us}
            for r in rows:
                key = (
                    int(r["user_id"]),
                    str(r["conversation_id"]),
                    int(r["seq"]),
                    int(r["revision"]),
                )
                if wanted is not None and key in wanted:
                    found[key] = int(r["user_seq"])
        return found

    async def _bump(
        self, db: BaseDBAsyncClient, sql: _Statements, counts: dict[int, int]
    ) -> dict[int, int]:
        """Raise each user's cursor by their count; return the new values.

        Users without a cursor are left out of the answer. The increment is the transaction's
        first locking statement, so it takes the cursor rows' locks in primary-key order
        whatever plan MySQL picks (on a small table a full scan that locks every row it
        passes): appends queue up behind each other, never deadlock.
        """
        by_count: dict[int, list[int]] = {}
        for user, count in sorted(counts.items()):
            by_count.setdefault(count, []).append(user)
        for count, users in sorted(by_count.items()):
            for part in self._chunks(users):
                await db.execute_query(sql.bump(len(part)), [count, *part])
        seqs: dict[int, int] = {}
        for part in self._chunks(sorted(counts)):
            # This read sees the transaction's own, still uncommitted increments.
            rows = await db.execute_query_dict(sql.cursors(len(part)), part)
            seqs.update((int(r["user_id"]), int(r["last_seq"])) for r in rows)
        return seqs

    async def sync(self, user_id: int, after: int, limit: int) -> SyncPage:
        """A page of the user's timeline; see :meth:`TimelineStore.sync`.

        Raw SQL in one unit of work: a reconnect storm is a thousand of these at once, and
        the ORM's query building cost more than SQLite's two index lookups.
        """
        return await run_unit(lambda db: self._sync_in(db, user_id, after, limit))

    async def _sync_in(
        self, db: BaseDBAsyncClient, user_id: int, after: int, limit: int
    ) -> SyncPage:
        sql = _Statements(db.capabilities.dialect)
        latest = await _latest(db, sql, user_id)
        if latest <= after or limit < 1:
            return SyncPage(entries=[], latest_seq=latest, has_more=latest > after)
        # Bounded by the cursor read first: every seq up to it is committed, so a page never
        # ends before a seq that is still being written.
        rows = await db.execute_query_dict(sql.page(), [user_id, after, latest, limit + 1])
        entries = []
        for row in rows[:limit]:
            message = _decode_message(row["message"])
            revision = int(row["revision"])
            entries.append(
                TimelineEntry(
                    user_seq=int(row["user_seq"]),
                    message=message,
                    kind=entry_kind(revision, message),
                )
            )
        return SyncPage(entries=entries, latest_seq=latest, has_more=len(rows) > limit)

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Delete the user's entries of one message (every revision); see the port."""
        return int(
            await Entry.filter(user_id=user_id, conversation_id=conversation_id, seq=seq).delete()
        )

    async def latest_seq(self, user_id: int) -> int:
        """The user's cursor."""
        db = Cursor._meta.db
        return await _latest(db, _Statements(db.capabilities.dialect), user_id)

    async def prune(self, older_than_ms: int) -> int:
        """Delete old entries in batches of ``prune_batch``; cursors are left alone."""
        total = 0
        while True:
            # Select then delete by id: SQLite has no DELETE ... LIMIT, and small batches keep
            # each statement's locks (and SQLite's single writer) short.
            ids = (
                await Entry.filter(created_at__lt=older_than_ms)
                .order_by("created_at")
                .limit(self._prune_batch)
                .values_list("id", flat=True)
            )
            if not ids:
                return total
            total += int(await Entry.filter(id__in=list(ids)).delete())
            if len(ids) < self._prune_batch:
                return total
            await asyncio.sleep(0)
