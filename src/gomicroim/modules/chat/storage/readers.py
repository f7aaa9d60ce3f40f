"""The SQL adapter of :class:`ReaderStore`: read receipts from the entries' read positions.

Both statements stay inside the ``(conversation_id, read_seq, user_id)`` index
(:data:`READERS_INDEX`), which covers them: a page is a range of it read in order and cut by
``LIMIT``, the counts one pass over the conversation's part of it, never the table. The
keyset after a cursor is written per engine so that each starts its range at the cursor:
SQLite takes the row value ``(read_seq, user_id) > (?, ?)`` as a range (next to a plain
``read_seq >= ?`` it would range on that and walk every reader before the cursor), while
MariaDB ranges only on the ``OR`` of the two intervals. SQLite's planner may prefer the
older ``conversation_id`` index, hence ``INDEXED BY``.
"""

from __future__ import annotations

from typing import Any, cast

from tortoise.backends.base.client import BaseDBAsyncClient

from gomicroim.infra.database import placeholder
from gomicroim.modules.chat.ports import ReadCounts, ReaderPosition
from gomicroim.modules.chat.storage import READERS_INDEX, Entry, Message


def _from(mark: str) -> str:
    hint = "" if mark == "%s" else f" INDEXED BY {READERS_INDEX}"
    return f" FROM chat_entry{hint}"


def page_query(
    mark: str,
    conversation_id: str,
    seq: int,
    exclude: int,
    after: ReaderPosition | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The SQL of one reader page: entries at or past ``seq``, after ``after``, in order."""
    sql = f"SELECT user_id, read_seq{_from(mark)} WHERE conversation_id = {mark}"
    params: list[Any] = [conversation_id]
    if after is None or after.read_seq < seq:
        sql += f" AND read_seq >= {mark}"
        params.append(seq)
    elif mark == "%s":
        sql += f" AND ((read_seq = {mark} AND user_id > {mark}) OR read_seq > {mark})"
        params += [after.read_seq, after.user_id, after.read_seq]
    else:
        sql += f" AND (read_seq, user_id) > ({mark}, {mark})"
        params += [after.read_seq, after.user_id]
    sql += f" AND user_id <> {mark} ORDER BY read_seq, user_id LIMIT {mark}"
    params += [exclude, limit]
    return sql, params


def counts_query(mark: str, conversation_id: str, seq: int, exclude: int) -> tuple[str, list[Any]]:
    """The SQL of the counts: all entries but ``exclude``'s, and those read below ``seq``."""
    return (
        "SELECT COUNT(*) AS total,"
        f" COALESCE(SUM(CASE WHEN read_seq < {mark} THEN 1 ELSE 0 END), 0) AS unread"
        f"{_from(mark)} WHERE conversation_id = {mark} AND user_id <> {mark}",
        [seq, conversation_id, exclude],
    )


class SqlReaderStore:
    """``ReaderStore`` on the relational database (SQLite or MySQL/MariaDB)."""

    @staticmethod
    def _db() -> BaseDBAsyncClient:
        return Entry._meta.db

    async def sender_of(self, conversation_id: str, seq: int) -> int | None:
        """By the ``(conversation_id, seq)`` key of the history."""
        found = await Message.filter(conversation_id=conversation_id, seq=seq).values_list(
            "sender_id", flat=True
        )
        return int(cast(int, found[0])) if found else None

    async def readers(
        self,
        conversation_id: str,
        seq: int,
        *,
        exclude: int,
        after: ReaderPosition | None,
        limit: int,
    ) -> list[ReaderPosition]:
        """One keyset page of the readers index."""
        db = self._db()
        sql, params = page_query(placeholder(db), conversation_id, seq, exclude, after, limit)
        rows = await db.execute_query_dict(sql, params)
        return [
            ReaderPosition(read_seq=int(r["read_seq"]), user_id=int(r["user_id"])) for r in rows
        ]

    async def read_counts(self, conversation_id: str, seq: int, *, exclude: int) -> ReadCounts:
        """One aggregate over the conversation's part of the readers index."""
        db = self._db()
        sql, params = counts_query(placeholder(db), conversation_id, seq, exclude)
        rows = await db.execute_query_dict(sql, params)
        # MySQL answers SUM as a DECIMAL.
        return ReadCounts(total=int(rows[0]["total"]), unread=int(rows[0]["unread"]))

    async def read_positions(self, conversation_id: str) -> dict[int, int]:
        """All entries of the conversation, from the index alone."""
        rows = await Entry.filter(conversation_id=conversation_id).values_list(
            "user_id", "read_seq"
        )
        return {int(cast(int, u)): int(cast(int, r)) for u, r in rows}
