"""Contract of ``run_unit``: one transaction on SQLite (in one trip) and on MariaDB alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError

from gomicroim.infra.database import placeholder
from gomicroim.infra.sqlite_unit import UnitSuspended, run_unit
from tests.contract.conftest import Backend

pytestmark = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True
)

TABLE = "unit_probe"


async def _table(backend: Backend) -> str:
    db = get_connection("default")
    await db.execute_script(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER NOT NULL PRIMARY KEY, note VARCHAR(20))"
    )
    return placeholder(db)


async def _insert(backend: Backend) -> str:
    """The probe table's INSERT of (id, note), the table created first."""
    mark = await _table(backend)
    return f"INSERT INTO {TABLE} (id, note) VALUES ({mark}, {mark})"  # noqa: S608


async def _rows(backend: Backend) -> list[tuple[int, str]]:
    rows = await backend.query(f"SELECT id, note FROM {TABLE} ORDER BY id")  # noqa: S608
    return [(int(r["id"]), str(r["note"])) for r in rows]


async def test_a_unit_commits_every_statement_and_returns_its_result(backend: Backend) -> None:
    mark = await _table(backend)

    async def unit(db: BaseDBAsyncClient) -> int:
        await db.execute_many(
            f"INSERT INTO {TABLE} (id, note) VALUES ({mark}, {mark})",  # noqa: S608
            [[1, "one"], [2, "two"]],
        )
        rows = await db.execute_query_dict(f"SELECT COUNT(*) AS n FROM {TABLE}")  # noqa: S608
        changed, _ = await db.execute_query(
            f"UPDATE {TABLE} SET note = {mark} WHERE id = {mark}",  # noqa: S608
            ["uno", 1],
        )
        return int(rows[0]["n"]) * 10 + changed

    assert await run_unit(unit) == 21
    assert await _rows(backend) == [(1, "uno"), (2, "two")]


async def test_a_failing_unit_changes_nothing_and_raises_tortoise_errors(
    backend: Backend,
) -> None:
    insert = await _insert(backend)
    await run_unit(lambda db: db.execute_many(insert, [[1, "kept"]]))

    async def clashing(db: BaseDBAsyncClient) -> None:
        await db.execute_many(insert, [[2, "rolled back"]])
        await db.execute_many(insert, [[1, "duplicate key"]])

    # The same class tortoise raises, so callers' handling is the same on either engine.
    with pytest.raises(IntegrityError):
        await run_unit(clashing)
    assert await _rows(backend) == [(1, "kept")]


async def test_a_unit_that_awaits_anything_else_is_refused_on_sqlite(backend: Backend) -> None:
    mark = await _table(backend)

    async def suspending(db: BaseDBAsyncClient) -> None:
        await db.execute_many(
            f"INSERT INTO {TABLE} (id, note) VALUES ({mark}, {mark})",  # noqa: S608
            [[1, "never"]],
        )
        await asyncio.sleep(0)

    if backend.name == "sqlite":
        with pytest.raises(UnitSuspended):
            await run_unit(suspending)
        assert await _rows(backend) == []
    else:
        # A transaction on a pooled connection may await anything.
        await run_unit(suspending)
        assert await _rows(backend) == [(1, "never")]


async def test_units_and_tortoise_statements_interleave_without_clashing(
    backend: Backend,
) -> None:
    insert = await _insert(backend)
    db = get_connection("default")
    work: list[Any] = []
    for i in range(1, 41):
        if i % 2:
            work.append(run_unit(lambda unit_db, i=i: unit_db.execute_many(insert, [[i, "u"]])))
        else:
            work.append(db.execute_query(insert, [i, "t"]))
    await asyncio.gather(*work)
    assert [i for i, _ in await _rows(backend)] == list(range(1, 41))


async def test_a_commit_without_its_own_sync_leaves_the_connection_as_configured(
    backend: Backend,
) -> None:
    insert = await _insert(backend)
    db = get_connection("default")
    if backend.name == "sqlite":
        before = await db.execute_query_dict("PRAGMA synchronous")
    await run_unit(lambda unit_db: unit_db.execute_many(insert, [[1, "relaxed"]]), durable=False)
    assert await _rows(backend) == [(1, "relaxed")]
    if backend.name == "sqlite":
        # The embedded default (FULL) is back for every other transaction.
        assert await db.execute_query_dict("PRAGMA synchronous") == before
        assert next(iter(before[0].values())) == 2
