"""Backends for the contract suites: the in-memory fake, SQLite and MariaDB/MySQL.

Every contract test is parametrised over ``backend``. Isolation:

* memory: a fresh fake per test.
* sqlite: a fresh database file per test in ``tmp_path``, opened exactly as the embedded app
  opens it (:func:`gomicroim.infra.database.database` with the modules' apps and an empty
  ``database_url``, so the app's own SQLite URL and pragmas apply). The file is a copy of a
  template migrated once per session through the same function, because migrating every
  test's file costs ~0.3 s each.
* mysql: one database ``gomicroim_test_<random>`` per test session, created on first use and
  dropped at the end; each test opens it through :func:`database` (migrations run on the
  first open) and deletes every row of the modules' tables before it starts. Tables are
  emptied rather than recreated because running the migrations per test on MariaDB is slow.

Only one tortoise context is open at a time: the ``backend`` fixture is function-scoped, and
``database`` makes its context the process-wide fallback, which tortoise allows only once.

When the MySQL server cannot be reached, ``mysql`` tests fail in their call phase with a
message that says how to start it; they never skip.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncmy
import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from gomicroim.config import load_settings
from gomicroim.container import tortoise_apps
from gomicroim.infra.database import _apps_config, database, database_url, migrate
from tests.conftest import MYSQL_URL

BACKENDS = ["memory", "sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]

_UNREACHABLE = pytest.StashKey[str]()
_START_HINT = (
    "start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd` "
    "(or point GOMICROIM_TEST_MYSQL_URL at a reachable server)"
)


@dataclass
class MysqlServer:
    """The per-session test database, or why it could not be created."""

    url: str | None
    error: str | None


@dataclass
class Backend:
    """What a contract test runs against; ``ctx`` is the open tortoise context of SQL backends."""

    name: str
    ctx: TortoiseContext | None = None

    @property
    def sql(self) -> bool:
        """Whether the SQL adapters are under test."""
        return self.name != "memory"

    async def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a raw query on the SQL backend (to look at tables no port exposes)."""
        assert self.ctx is not None, "raw queries only exist on SQL backends"
        return list(await self.ctx.connections.get("default").execute_query_dict(sql))


def _in_thread(coro: Any) -> Any:
    # Session set-up runs outside the tests' event loops; a thread keeps asyncio.run from
    # touching the loop pytest-asyncio has installed for the current test.
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the calling thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def _admin(base_url: str, statement: str) -> None:
    parts = urlsplit(base_url)
    conn = await asyncmy.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        connect_timeout=5,
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        conn.close()


def _with_db(base_url: str, name: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def mysql_server() -> Any:
    """Create ``gomicroim_test_<random>`` on the MySQL server for this session; drop it after."""
    name = f"gomicroim_test_{secrets.token_hex(4)}"
    try:
        _in_thread(_admin(MYSQL_URL, f"CREATE DATABASE `{name}`"))
    except Exception as exc:  # any failure means "not reachable" here
        yield MysqlServer(
            url=None,
            error=f"MariaDB/MySQL at {MYSQL_URL} is not reachable ({exc!r}); {_START_HINT}",
        )
        return
    try:
        yield MysqlServer(url=_with_db(MYSQL_URL, name), error=None)
    finally:
        _in_thread(_admin(MYSQL_URL, f"DROP DATABASE IF EXISTS `{name}`"))


def _sqlite_settings(data_dir: Path) -> Any:
    return load_settings(env={}, overrides={"storage": {"data_dir": str(data_dir)}})


async def _migrate(settings: Any) -> None:
    EXECUTOR_CACHE.clear()
    async with database(settings, tortoise_apps(settings)):
        pass


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite database file, created once per session."""
    settings = _sqlite_settings(tmp_path_factory.mktemp("sqlite-template"))
    _in_thread(_migrate(settings))
    path = Path(database_url(settings).removeprefix("sqlite://").partition("?")[0])
    assert path.is_file(), f"migrating did not create {path}"
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Fail (not skip, not error in set-up) a MySQL test whose server is unreachable."""
    reason = item.stash.get(_UNREACHABLE, None)
    if reason is not None:
        pytest.fail(reason, pytrace=False)


async def _empty_tables(backend: Backend) -> None:
    tables = await backend.query(
        "SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name <> 'tortoise_migrations'"
    )
    conn = backend.ctx.connections.get("default")  # type: ignore[union-attr]
    for table in tables:
        await conn.execute_script(f"DELETE FROM `{table['name']}`")  # noqa: S608


@asynccontextmanager
async def open_backend(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Backend]:
    """Open backend ``name``; see the module docstring for how tests are isolated."""
    storage: dict[str, Any] = {"data_dir": str(tmp_path / "data")}
    if name == "memory":
        yield Backend(name)
        return
    if name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        (tmp_path / "data").mkdir()
        shutil.copy(template, tmp_path / "data" / template.name)
    if name == "mysql":
        server: MysqlServer = request.getfixturevalue("mysql_server")
        if server.error is not None:
            request.node.stash[_UNREACHABLE] = server.error
            yield Backend(name)
            return
        # Several connections, so concurrency contracts really run concurrently.
        storage.update(database_url=server.url, pool_max_size=10)
    settings = load_settings(env={}, overrides={"storage": storage})
    # tortoise caches compiled INSERT/DELETE statements per (connection name, table) for the
    # life of the process; both SQL backends call their connection "default", so SQLite's
    # "?" statements would be reused on MySQL (and "%s" ones on SQLite) without this.
    EXECUTOR_CACHE.clear()
    async with database(settings, tortoise_apps(settings)) as ctx:
        opened = Backend(name, ctx)
        if name == "mysql":
            await _empty_tables(opened)
        yield opened


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An open backend; see the module docstring for how tests are isolated."""
    async with open_backend(request.param, request, tmp_path) as opened:
        yield opened


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def unmigrated_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Storage settings of an empty, unmigrated database (for migration tests)."""
    if request.param == "sqlite":
        yield {"data_dir": str(tmp_path / "data")}
        return
    name = f"gomicroim_migration_{secrets.token_hex(4)}"
    _in_thread(_admin(MYSQL_URL, f"CREATE DATABASE `{name}`"))
    try:
        yield {"data_dir": str(tmp_path / "data"), "database_url": _with_db(MYSQL_URL, name)}
    finally:
        _in_thread(_admin(MYSQL_URL, f"DROP DATABASE IF EXISTS `{name}`"))


@asynccontextmanager
async def migrated_to(storage: Any, target: MigrationTarget) -> AsyncIterator[Migrated]:
    """The database of ``storage`` opened and migrated up to ``target`` only."""
    settings = load_settings(env={}, overrides={"storage": {**storage, "migrate_on_start": False}})
    apps = tortoise_apps(settings)
    EXECUTOR_CACHE.clear()
    async with database(settings, apps) as ctx:
        connection = ctx.connections.get("default")
        await MigrationExecutor(connection, _apps_config(apps)).migrate([target])
        yield Migrated(ctx, apps, connection)


@dataclass
class Migrated:
    """A database left at an older migration: run the rest with :meth:`migrate_rest`."""

    ctx: TortoiseContext
    apps: Any
    connection: Any

    async def migrate_rest(self) -> list[str]:
        """Apply every later migration; the names applied."""
        return list(await migrate(self.ctx, self.apps))
