"""One server process per database while the bus is in process.

With the in-process bus a committed message reaches only the gateway of the process that
stored it, so a second server on the same database would silently lose the pushes of half
the messages. Until a cluster is configured (``kafka.bootstrap_servers`` and ``redis.url``),
``gomicroim serve`` holds an exclusive lock for its whole life and a second one refuses to
start. SQLite: ``fcntl`` on a lock file next to the database; MySQL/MariaDB: a named lock
(``GET_LOCK``) on a connection of its own. Both are released by the kernel or the database
server when the process dies. Short-lived commands (``migrate``, ``backup``, ``users``...)
take no lock: they may run while the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import asyncmy
from asyncmy import errors as mysql_errors

from gomicroim.config import ConfigError, Settings
from gomicroim.errors import Unavailable
from gomicroim.infra.database import describe_url, sqlite_path
from gomicroim.infra.datadir import FILE_MODE, ensure_private_dir

log = logging.getLogger("gomicroim.lock")

_CLUSTER_FIX = (
    "stop the other one, or configure a cluster (kafka.bootstrap_servers and redis.url) to run"
    " several server processes on one database"
)
#: MySQL and MariaDB refuse lock names longer than this.
_MAX_LOCK_NAME = 64


class ProcessLock(Protocol):
    """A lock held from :meth:`acquire` until :meth:`release` or the process's end."""

    def acquire(self) -> None:
        """Take the lock now or fail.

        Raises:
            ConfigError: another process holds it, naming the fix.
            Unavailable: the database cannot be reached to take it.
        """
        ...

    def release(self) -> None:
        """Give the lock up (also safe when it was never taken)."""
        ...


def needs_exclusive_server(settings: Settings) -> bool:
    """Whether this configuration allows only one server process per database."""
    return not (settings.kafka.bootstrap_servers and settings.redis.url)


def server_lock(settings: Settings) -> ProcessLock | None:
    """The lock ``gomicroim serve`` must hold for ``settings``, or None in a cluster."""
    if not needs_exclusive_server(settings):
        return None
    url = settings.storage.database_url
    if url.startswith("mysql"):
        return NamedDatabaseLock(url)
    database = Path(url.split("://", 1)[1].split("?", 1)[0]) if url else sqlite_path(settings)
    return FileLock(database.with_name(database.name + ".lock"))


class FileLock:
    """An exclusive ``flock`` on a file; the kernel drops it when the process ends."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Lock the file, writing this process's id into it for whoever finds it locked."""
        try:
            ensure_private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise ConfigError(
                f"storage.data_dir: cannot create {self.path} ({exc.strerror or exc}); make the"
                " directory writable for the user running gomicroim"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another gomicroim server (pid {holder}) is serving {self.path.parent} with the"
                f" in-process bus, and a second one would lose pushes; {_CLUSTER_FIX}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Unlock and close; the file stays (removing it would race a starting process)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class NamedDatabaseLock:
    """``GET_LOCK`` on a connection of its own, kept alive in a thread of its own.

    The connection lives in its own thread and event loop, apart from the server's, because
    the lock is taken before the server's loop exists and must outlive the start-up checks'.
    A ping every ``keepalive_s`` keeps the server's ``wait_timeout`` from closing it (which
    would release the lock); if the connection is lost anyway, the lock is taken again.
    """

    def __init__(self, url: str, *, keepalive_s: float = 30.0, connect_timeout_s: float = 5.0):
        self._url = url
        parts = urlsplit(url)
        self._connect = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "connect_timeout": connect_timeout_s,
        }
        self.name = lock_name(parts.path.lstrip("/"))
        self._keepalive_s = keepalive_s
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the named lock, or raise what stopped it."""
        self._thread = threading.Thread(target=self._run, name="gomicroim-server-lock", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def release(self) -> None:
        """Release the lock and close its connection."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._hold())

    async def _hold(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            connection = await self._take()
        except Exception as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._keepalive_s)
                    break
                connection = await self._keep(connection)
        finally:
            with contextlib.suppress(Exception):
                async with connection.cursor() as cursor:
                    await cursor.execute("SELECT RELEASE_LOCK(%s)", (self.name,))
            connection.close()

    async def _take(self) -> asyncmy.Connection:
        try:
            connection = await asyncmy.connect(**self._connect)
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT GET_LOCK(%s, 0)", (self.name,))
                (taken,) = await cursor.fetchone()
        except (OSError, mysql_errors.MySQLError) as exc:
            raise Unavailable(
                f"cannot open database {describe_url(self._url)}: {exc}; check"
                " storage.database_url and that the server is running"
            ) from exc
        if taken != 1:
            connection.close()
            raise ConfigError(
                f"another gomicroim server holds the database {describe_url(self._url)} with the"
                f" in-process bus (lock {self.name!r}), and a second one would lose pushes;"
                f" {_CLUSTER_FIX}"
            )
        return connection

    async def _keep(self, connection: asyncmy.Connection) -> asyncmy.Connection:
        try:
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT 1")
            return connection
        except Exception as exc:  # a lost or already closed connection, whatever the driver says
            log.warning("server lock connection lost", extra={"error": repr(exc)})
        connection.close()
        try:
            return await self._take()
        except Unavailable as exc:
            # The database is down: the lock went with the connection; try again next time.
            log.warning("server lock not taken again yet", extra={"error": str(exc)})
        except ConfigError as exc:
            # Another server started while this one's connection was gone: both now run.
            log.error("server lock taken by another server", extra={"error": str(exc)})
        return connection


def lock_name(database: str) -> str:
    """The named lock of ``database``: readable when it fits, a digest when it does not."""
    name = f"gomicroim:serve:{database}"
    if len(name) <= _MAX_LOCK_NAME:
        return name
    return f"gomicroim:serve:{hashlib.sha256(database.encode()).hexdigest()[:40]}"
