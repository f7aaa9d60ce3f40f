"""Which database errors mean "the engine is down" (503) and which are ordinary failures."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import pytest
from asyncmy import errors as mysql_errors
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

from gomicroim.errors import Unavailable
from gomicroim.infra.database import database_outage


def real_sqlite_error(tmp_path: Path, read_only: bool) -> sqlite3.Error:
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x INTEGER UNIQUE)").connection.commit()
    mode = "ro" if read_only else "rw"
    conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True)
    try:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO t VALUES (1)")
    except sqlite3.Error as exc:
        return exc
    raise AssertionError("no error")


def test_a_read_only_sqlite_file_is_an_outage(tmp_path: Path) -> None:
    error = real_sqlite_error(tmp_path, read_only=True)
    outage = database_outage(OperationalError(error))  # as tortoise wraps it
    assert isinstance(outage, Unavailable)
    assert outage.status == 503
    assert "readonly" in outage.detail
    assert "database" in outage.message
    assert "sqlite" not in outage.message.lower()


def test_a_constraint_violation_is_not_an_outage(tmp_path: Path) -> None:
    error = real_sqlite_error(tmp_path, read_only=False)
    assert isinstance(error, sqlite3.IntegrityError)
    assert database_outage(IntegrityError(error)) is None


@pytest.mark.parametrize(
    "message",
    [
        "disk I/O error",
        "database or disk is full",
        "attempt to write a readonly database",
        "unable to open database file",
        "database is locked",
    ],
)
def test_sqlite_outage_messages(message: str) -> None:
    assert database_outage(OperationalError(sqlite3.OperationalError(message))) is not None


def test_sqlite_query_mistakes_are_not_outages() -> None:
    assert database_outage(OperationalError(sqlite3.OperationalError("no such table: x"))) is None


@pytest.mark.parametrize(
    ("code", "outage"),
    [
        (2003, True),  # can't connect
        (2006, True),  # server has gone away
        (2013, True),  # lost connection during query
        (1040, True),  # too many connections
        (1290, True),  # --read-only
        (1021, True),  # disk full
        (1064, False),  # syntax error
        (1213, False),  # deadlock: the caller retries, it is no outage
    ],
)
def test_mysql_error_codes(code: int, outage: bool) -> None:
    error = OperationalError(mysql_errors.OperationalError(code, "message"))
    assert (database_outage(error) is not None) is outage


def test_tortoise_connection_errors_are_outages() -> None:
    outage = database_outage(DBConnectionError("Can't connect to MySQL server: {'user': 'root'}"))
    assert outage is not None
    assert "root" not in outage.detail
    assert "root" not in outage.message


async def test_a_socket_error_from_the_driver_is_an_outage() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    import asyncmy

    # Whatever asyncmy raises for a refused connection must read as an outage.
    with pytest.raises(Exception) as refused:  # noqa: PT011
        await asyncmy.connect(host="127.0.0.1", port=port, user="root", connect_timeout=1)
    assert database_outage(refused.value) is not None


def test_socket_errors_elsewhere_are_not_database_outages() -> None:
    with pytest.raises(ConnectionResetError) as reset:
        raise ConnectionResetError("a client went away")
    assert database_outage(reset.value) is None
    assert database_outage(asyncio.CancelledError()) is None
    assert database_outage(ValueError("bug")) is None
