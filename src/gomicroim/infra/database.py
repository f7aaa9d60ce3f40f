"""Tortoise ORM lifecycle: connection config for the modules' apps, migrations, readiness."""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import msgspec
from asyncmy import errors as mysql_errors
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.migrations.executor import MigrationExecutor

from gomicroim.config import Settings
from gomicroim.errors import Unavailable
from gomicroim.infra.datadir import prepare_sqlite
from gomicroim.infra.migrations import register_package

log = logging.getLogger("gomicroim.database")


class TortoiseApp(NamedTuple):
    """One module's tables: contributed by the module's container when it stores in SQL."""

    #: The tortoise app label; also the module's migrations package, ``migrations/<label>``.
    label: str
    #: Import path of the module that defines the tortoise models (the module's storage).
    models: str


def placeholder(db: Any) -> str:
    """The parameter mark of ``db``'s raw SQL: ``%s`` for MySQL's driver, ``?`` for SQLite's."""
    return "%s" if db.capabilities.dialect == "mysql" else "?"


def sqlite_path(settings: Settings) -> Path:
    """The embedded shape's SQLite file under ``data_dir``."""
    return (settings.data_path / "gomicroim.sqlite3").resolve()


#: Checkpoint every 8,000 pages (32 MiB of WAL), not SQLite's 1,000, and keep the WAL file's
#: space (64 MiB) instead of tortoise's 16 KiB. A fan-out rewrites the same index pages batch
#: after batch: a rarer checkpoint copies each of them once, not once per few batches, and a
#: WAL that is not truncated after each checkpoint is not regrown by the next commits. With
#: both, a 200-member group's append took half the time (README, Performance).
_WAL_SIZING = "journal_size_limit=67108864&wal_autocheckpoint=8000"


def database_url(settings: Settings) -> str:
    """The database URL in force: the configured one or SQLite under ``data_dir``."""
    if settings.storage.database_url:
        return settings.storage.database_url
    path = sqlite_path(settings)
    # FULL (the default): a reply to a send means the message survived a power cut too.
    sync = settings.storage.sqlite_synchronous
    return f"sqlite://{path}?journal_mode=WAL&synchronous={sync}&busy_timeout=5000&{_WAL_SIZING}"


def tortoise_config(settings: Settings, apps: Sequence[TortoiseApp]) -> dict[str, Any]:
    """The tortoise config dict: one connection, one app per storage-owning module."""
    url = database_url(settings)
    connection: str | dict[str, Any] = url
    if url.startswith("mysql"):
        sep = "&" if "?" in url else "?"
        connection = (
            f"{url}{sep}minsize={settings.storage.pool_min_size}"
            f"&maxsize={settings.storage.pool_max_size}&charset=utf8mb4"
        )
    return {
        "connections": {"default": connection},
        "apps": _apps_config(apps),
        "use_tz": True,
        "timezone": "UTC",
    }


def _apps_config(apps: Sequence[TortoiseApp]) -> dict[str, dict[str, Any]]:
    migrations = register_package()
    return {
        app.label: {
            "models": [app.models],
            "migrations": f"{migrations}.{app.label}",
            "default_connection": "default",
        }
        for app in apps
    }


def describe_url(url: str) -> str:
    """The URL with any password masked, for logs."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


@asynccontextmanager
async def database(
    settings: Settings, apps: Sequence[TortoiseApp]
) -> AsyncIterator[TortoiseContext]:
    """Open the database with ``apps`` for the life of the app; migrate first if configured."""
    if not settings.storage.database_url:
        # Private modes and a writability check before the ORM sees the file (see datadir).
        await asyncio.to_thread(prepare_sqlite, sqlite_path(settings))
    # The context is the process-wide fallback rather than a context variable: request tasks
    # are not children of the task that opens the database, and a container resource may be
    # opened and closed from different tasks, where resetting a context variable fails.
    ctx = TortoiseContext()
    # Tortoise caches each model's INSERT statement per connection *name* for the life of the
    # process: after a SQLite "default" closes, a MySQL "default" would reuse its `?`
    # placeholders and fail every insert. A process that reopens on another engine (the
    # test suite, an embedded host) must start from an empty cache.
    EXECUTOR_CACHE.clear()
    try:
        try:
            with ctx:  # current only while it initialises, in this task
                await ctx.init(config=tortoise_config(settings, apps), _enable_global_fallback=True)
                if settings.storage.migrate_on_start:
                    await migrate(ctx, apps)
        except (DBConnectionError, OperationalError, OSError) as exc:
            raise _cannot_open(settings, exc) from exc
        log.info("database ready", extra={"url": describe_url(database_url(settings))})
        yield ctx
    finally:
        await ctx.close_connections()


def _cannot_open(settings: Settings, exc: Exception) -> Unavailable:
    return Unavailable(
        f"cannot open database {describe_url(database_url(settings))}: {exc}; "
        "check storage.database_url and that the server is running"
    )


async def open_database(
    settings: Settings, apps: Sequence[TortoiseApp]
) -> AsyncIterator[TortoiseContext]:
    """:func:`database` as a generator, the form a ``providers.Resource`` runs."""
    async with database(settings, apps) as ctx:
        yield ctx


async def migrate_once(settings: Settings, apps: Sequence[TortoiseApp]) -> list[str]:
    """Open the database, apply pending migrations of ``apps`` and close it.

    This is ``gomicroim migrate``; ``migrate_on_start`` does not matter here.

    Raises:
        Unavailable: the database cannot be opened, naming the URL (password masked).
    """
    forced = msgspec.structs.replace(
        settings, storage=msgspec.structs.replace(settings.storage, migrate_on_start=False)
    )
    async with database(forced, apps) as ctx:
        try:
            return await migrate(ctx, apps)
        except (DBConnectionError, OperationalError, OSError) as exc:
            raise _cannot_open(settings, exc) from exc


async def migrate(ctx: TortoiseContext, apps: Sequence[TortoiseApp]) -> list[str]:
    """Apply every pending migration of ``apps``; return the names applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            log.info("migration applied", extra={"migration": f"{app_label}.{name}"})

    executor = MigrationExecutor(ctx.connections.get("default"), _apps_config(apps))
    await executor.migrate(None, progress=progress)
    return applied


async def ping() -> None:
    """Raise :class:`Unavailable` unless the database answers a trivial query."""
    try:
        await get_connection("default").execute_query("SELECT 1")
    except Exception as exc:
        raise Unavailable(f"database does not answer: {_cause_text(exc)}") from exc


#: One row, rewritten by readiness. Created on first use by whichever process probes first;
#: the same DDL and ``REPLACE`` work on SQLite and MySQL.
_PROBE_TABLE = (
    "CREATE TABLE IF NOT EXISTS gomicroim_write_probe "
    "(id INTEGER NOT NULL PRIMARY KEY, written_at BIGINT NOT NULL)"
)


class WriteProbe:
    """Readiness that needs the database to *store*, not only to answer.

    A full or read-only disk leaves ``SELECT 1`` working (SQLite reads its file, MySQL its
    buffer pool), while every send fails. No read-only statement or PRAGMA can tell: only a
    committed write reaches the disk (a rolled-back one never leaves the cache). So the probe
    commits a one-row ``REPLACE`` — one small WAL frame on SQLite — at most every
    ``interval_s``, and in between reports the last outcome; concurrent readiness checks
    share one probe.
    """

    def __init__(self, interval_s: float):
        self._interval_s = interval_s
        self._checked_at = -math.inf
        self._failure: Unavailable | None = None
        self._lock = asyncio.Lock()
        self._table_ready = False

    async def __call__(self) -> None:
        """Raise :class:`Unavailable` unless the database answers and stores a row."""
        await ping()
        async with self._lock:
            if time.monotonic() - self._checked_at >= self._interval_s:
                self._failure = await self._write()
                self._checked_at = time.monotonic()
            if self._failure is not None:
                raise self._failure

    async def _write(self) -> Unavailable | None:
        connection = get_connection("default")
        try:
            if not self._table_ready:
                await connection.execute_script(_PROBE_TABLE)
                self._table_ready = True
            written_at = int(time.time() * 1000)
            await connection.execute_query(
                f"REPLACE INTO gomicroim_write_probe (id, written_at) VALUES (1, {written_at})"  # noqa: S608
            )
        except Exception as exc:
            log.warning("database cannot store", extra={"error": _cause_text(exc)})
            return Unavailable(f"database cannot store: {_cause_text(exc)}")
        return None


#: MySQL/MariaDB errors that mean "the server cannot serve us now", not "this query is wrong":
#: can't connect (2002, 2003, 2005), gone away or lost (2006, 2013, 2055), too many connections
#: (1040), shutting down (1053), connection killed (1927, 4031), disk or table full (1021, 1114),
#: read-only (1290 --read-only, 1836 read-only mode, 1792 read-only transaction).
MYSQL_OUTAGE_CODES = frozenset(
    {2002, 2003, 2005, 2006, 2013, 2055, 1040, 1053, 1927, 4031, 1021, 1114, 1290, 1836, 1792}
)
#: SQLite's messages for a file it cannot read or write right now (I/O, space, permissions).
SQLITE_OUTAGE_MESSAGES = (
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "unable to open database file",
    "database is locked",
)
#: Modules whose raw socket errors (reset, EOF, timeout) are the database's connection failing.
_DRIVER_MODULES = ("asyncmy", "aiosqlite", "tortoise")


def database_outage(exc: BaseException) -> Unavailable | None:
    """The :class:`Unavailable` a connection-class database error means, else None.

    Query mistakes (syntax, constraint violations) stay what they are; only errors that say
    the engine cannot be reached or cannot store anything now become 503 ``unavailable``.
    """
    for error in _chain(exc):
        if _is_outage(error):
            outage = Unavailable(
                "the database cannot store anything right now (its disk is full or read-only);"
                " nothing was stored, retry later"
                if _cannot_store(error)
                else "the database is unavailable; retry in a few seconds"
            )
            outage.detail = f"database: {_cause_text(error)}"
            return outage
    return None


def _cannot_store(error: BaseException) -> bool:
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "full" in text or "readonly" in text
    if isinstance(error, mysql_errors.OperationalError) and error.args:
        return error.args[0] in {1021, 1114, 1290, 1836, 1792}
    return False


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, DBConnectionError):
        return True
    if isinstance(error, mysql_errors.OperationalError | mysql_errors.InterfaceError):
        code = error.args[0] if error.args else None
        return isinstance(error, mysql_errors.InterfaceError) or code in MYSQL_OUTAGE_CODES
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return any(message in text for message in SQLITE_OUTAGE_MESSAGES)
    if isinstance(error, OSError | EOFError | TimeoutError):
        return _raised_in_driver(error)
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    # tortoise wraps the driver's error as its first argument, and drivers chain socket errors.
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 16:
        error = todo.pop()
        if error is None or any(error is s for s in seen):
            continue
        seen.append(error)
        todo.extend((error.__cause__, error.__context__))
        todo.extend(arg for arg in error.args if isinstance(arg, BaseException))
    return seen


def _raised_in_driver(error: BaseException) -> bool:
    tb = error.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def _cause_text(exc: BaseException) -> str:
    # The driver's own message, never the query, its parameters or the connection settings.
    for error in _chain(exc):
        if isinstance(error, mysql_errors.MySQLError | sqlite3.Error):
            return f"{type(error).__name__}: {error.args[-1] if error.args else error}"
        if isinstance(error, DBConnectionError):
            return "cannot connect to the database server"
    return type(exc).__name__
