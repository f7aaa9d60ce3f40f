"""The conversation list's SQL: keyset pages in :class:`ListPosition` order and unread totals.

Raw SQL because the page joins two models tortoise has no relation between. Both statements
start from the user's entries (the ``(user_id, conversation_id)`` key), join their
conversations by id, and let the database sort and cut the page, so no more than a page of
rows ever leaves it; the page's last messages are read by id afterwards.

On SQLite the join goes through the covering :data:`INDEX`: a row keeps ``updated_at`` behind
``last_message``, so reaching it through the table would walk the overflow pages of every
long last message the user has. SQLite's planner prefers the primary key's unique index,
hence ``INDEXED BY``. InnoDB stores long text off the row, so MySQL's primary key lookup
reads no message and is left to its optimizer.

The order starts with the entry's ``pinned`` and goes on with the conversation's
``updated_at``: a key over two tables, which no index can hand over sorted. The database
sorts the user's joined entries as it did before pinning existed (they are found by the
``(user_id, conversation_id)`` key, and ``pinned`` sits on the entry row read anyway), so
the pin adds no index and no extra row read.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from gomicroim.infra.database import placeholder
from gomicroim.modules.chat.ports import ListPosition

#: The covering index of chat_conversation (a migration creates it under this name).
INDEX = "chat_conversation_list"


def _join(mark: str) -> str:
    hint = "" if mark == "%s" else f" INDEXED BY {INDEX}"
    return f" FROM chat_entry e JOIN chat_conversation c{hint} ON c.id = e.conversation_id"


def page_query(
    mark: str, user_id: int, before: ListPosition | None, limit: int | None
) -> tuple[str, list[Any]]:
    """The SQL of one page: positions below ``before``, largest first (see ListPosition)."""
    sql = (
        "SELECT c.id, c.session_type, c.last_seq, c.updated_at, e.read_seq, e.pinned,"
        f" e.muted_until{_join(mark)} WHERE e.user_id = {mark}"
    )
    params: list[Any] = [user_id]
    if before is not None:
        # The row comparison (pinned, updated_at, id) < cursor, spelled out: MySQL and SQLite
        # agree on this form. Booleans are 0/1 on both.
        sql += (
            f" AND (e.pinned < {mark} OR (e.pinned = {mark} AND (c.updated_at < {mark}"
            f" OR (c.updated_at = {mark} AND c.id < {mark}))))"
        )
        pinned = int(before.pinned)
        params += [pinned, pinned, before.updated_at, before.updated_at, before.conversation_id]
    sql += " ORDER BY e.pinned DESC, c.updated_at DESC, c.id DESC"
    if limit is not None:
        sql += f" LIMIT {mark}"
        params.append(limit)
    return sql, params


async def page(
    db: BaseDBAsyncClient, user_id: int, before: ListPosition | None, limit: int | None
) -> list[dict[str, Any]]:
    """Rows of ``id, session_type, last_seq, updated_at, read_seq`` for one page."""
    sql, params = page_query(placeholder(db), user_id, before, limit)
    return list(await db.execute_query_dict(sql, params))


async def total_unread(db: BaseDBAsyncClient, user_id: int, now_ms: int) -> int:
    """The sum of ``last_seq - read_seq`` over the user's unmuted entries, ignoring negatives."""
    mark = placeholder(db)
    sql = (
        "SELECT COALESCE(SUM(CASE WHEN c.last_seq > e.read_seq"
        f" THEN c.last_seq - e.read_seq ELSE 0 END), 0) AS total{_join(mark)}"
        f" WHERE e.user_id = {mark} AND (e.muted_until IS NULL OR e.muted_until <= {mark})"
    )
    rows = await db.execute_query_dict(sql, [user_id, now_ms])
    return int(rows[0]["total"]) if rows else 0
