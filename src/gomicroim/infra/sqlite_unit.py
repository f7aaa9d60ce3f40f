"""One transaction in one trip: a store's unit of work run whole in SQLite's connection thread.

tortoise runs every SQLite statement as its own trip to aiosqlite's worker thread and back
through the event loop, and each trip back waits behind everything else the loop has ready.
A send batch of six statements took nine trips and the timeline append seven more: under
load that queueing, not SQLite, was most of a message's latency (p50 12-18 ms at 200 msg/s,
with the server's loop busy less than half the time).

:func:`run_unit` takes the same store code a MySQL transaction runs, an ``async def`` given a
db client, and on SQLite drives it to completion inside the connection's thread against
:class:`ThreadBoundSqlite`, whose statements finish without suspending: BEGIN, every
statement and COMMIT cost one trip. Such a unit must await nothing but its db (no lock,
sleep or future: the thread runs no event loop), and must not touch state the loop thread
mutates; a unit that suspends is rolled back and fails with :class:`UnitSuspended`.

``durable=False`` commits without the WAL sync (``synchronous=NORMAL`` for that commit), for
writes that can be rebuilt: WAL frames reach the disk in order, so the next durable commit's
sync (or the next checkpoint) carries them too, and a power cut can lose only a suffix of
such commits, never one that precedes an acknowledged durable commit.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar, cast

from tortoise.backends.base.client import BaseDBAsyncClient, Capabilities
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

T = TypeVar("T")
Unit = Callable[[BaseDBAsyncClient], Awaitable[T]]


class UnitSuspended(RuntimeError):
    """A SQLite unit of work awaited something other than its db; it was rolled back."""


class ThreadBoundSqlite:
    """The part of tortoise's client the stores' raw SQL uses, on the raw sqlite3 connection.

    Valid only inside the connection's own thread, within :func:`run_unit`. Errors are
    translated as tortoise translates them, so a unit handles the same exceptions either way.
    """

    def __init__(self, raw: sqlite3.Connection, capabilities: Capabilities):
        self.capabilities = capabilities
        self._raw = raw

    async def execute_query_dict(
        self, query: str, values: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows as dicts."""
        with _translated():
            return [dict(row) for row in self._raw.execute(query, values or ()).fetchall()]

    async def execute_query(
        self, query: str, values: Sequence[Any] | None = None
    ) -> tuple[int, list[Any]]:
        """(rows changed or returned, rows), as tortoise answers."""
        with _translated():
            before = self._raw.total_changes
            rows = self._raw.execute(query, values or ()).fetchall()
            return (self._raw.total_changes - before) or len(rows), rows

    async def execute_many(self, query: str, values: Sequence[Sequence[Any]]) -> None:
        """One statement for many parameter rows."""
        with _translated():
            self._raw.executemany(query, values)


async def run_unit(unit: Unit[T], *, durable: bool = True) -> T:
    """Run ``unit`` in one transaction on the default connection and return its result.

    On SQLite in one trip to the connection's thread (see the module); elsewhere in
    tortoise's ``in_transaction()``, where ``durable`` changes nothing.

    Raises:
        UnitSuspended: on SQLite, ``unit`` awaited something other than its db.
        Exception: whatever ``unit`` or the commit raised; the transaction is rolled back.
    """
    client: Any = get_connection("default")
    if client.capabilities.dialect != "sqlite":
        async with in_transaction() as db:
            return await unit(db)
    # The lock tortoise's own transactions and statements take: nothing interleaves.
    async with client._lock:
        if client._connection is None:
            await client.create_connection(with_db=True)
        connection = client._connection
        return cast(
            T,
            await connection._execute(
                _in_thread, connection._conn, unit, client.capabilities, durable
            ),
        )


def _in_thread(
    raw: sqlite3.Connection, unit: Unit[T], capabilities: Capabilities, durable: bool
) -> T:
    # Only a relaxed commit needs the level (to restore it); a durable one keeps it as it is.
    level = _NORMAL if durable else int(raw.execute("PRAGMA synchronous").fetchone()[0])
    relaxed = level > _NORMAL
    if relaxed:
        raw.execute(f"PRAGMA synchronous={_NORMAL}")  # not allowed inside a transaction
    try:
        with _translated():
            raw.execute("BEGIN")
        try:
            # The units use only what ThreadBoundSqlite offers of tortoise's client.
            db = cast(BaseDBAsyncClient, ThreadBoundSqlite(raw, capabilities))
            result = _complete(cast(Coroutine[Any, Any, T], unit(db)))
            with _translated():
                raw.commit()
        except BaseException:
            if raw.in_transaction:
                raw.rollback()
            raise
        return result
    finally:
        if relaxed:
            raw.execute(f"PRAGMA synchronous={level}")


#: SQLite's ``synchronous`` levels: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
_NORMAL = 1


def _complete(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends; fail if it does."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise UnitSuspended(
        "a SQLite unit of work awaited something other than its db; it must only run statements"
    )


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """sqlite3's errors as tortoise raises them, so callers catch the same classes."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise IntegrityError(error) from error
    except sqlite3.OperationalError as error:
        raise OperationalError(error) from error
