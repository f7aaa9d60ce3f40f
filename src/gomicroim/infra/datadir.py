"""The embedded shape's data directory: private to the server's user, and writable."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

from gomicroim.config import ConfigError

log = logging.getLogger("gomicroim.datadir")

DIR_MODE = 0o700
FILE_MODE = 0o600
#: SQLite's companions of the database file while it is open in WAL mode.
SQLITE_SUFFIXES = ("", "-wal", "-shm")


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (0700), or take group and other access away from an existing one.

    The directory holds every message and the token-signing secret; nobody but the server's
    user has any business in it.
    """
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` (0600) unless it exists; take group and other access away.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's mode, so creating
    the database file 0600 before SQLite opens it makes all three private.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)


def prepare_sqlite(path: Path) -> None:
    """Make the data directory and the SQLite file private and check that both are writable.

    A read-only directory would otherwise only fail inside the ORM, which leaves the start
    hanging (and deaf to SIGTERM) instead of saying what is wrong.

    Raises:
        ConfigError: naming the directory, the reason and the fix.
    """
    directory = path.parent
    try:
        ensure_private_dir(directory)
        probe = directory / f".gomicroim-write-check-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        probe.unlink()
        create_private_file(path)
        for suffix in SQLITE_SUFFIXES[1:]:
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                _tighten(companion, FILE_MODE)
        _check_sqlite(path)
    except (OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"storage.data_dir: cannot write to {directory} ({reason}); make it writable for"
            " the user running gomicroim, or point storage.data_dir at a writable directory"
        ) from exc


def _check_sqlite(path: Path) -> None:
    for suffix in SQLITE_SUFFIXES:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and not os.access(companion, os.W_OK):
            raise PermissionError(f"{companion.name} is read-only")
    # Opening in WAL mode creates (or needs) the -wal and -shm files: exactly what fails on a
    # read-only directory or file system.
    connection = sqlite3.connect(path, timeout=5)
    try:
        connection.execute("PRAGMA journal_mode=WAL").fetchall()
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
    finally:
        connection.close()


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries, to disk (a rename is durable only after this)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tighten(path: Path, allowed: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & ~allowed:
        try:
            path.chmod(mode & allowed)
        except PermissionError as exc:  # another user's directory; a read-only one fails later
            log.warning(
                "cannot restrict permissions",
                extra={"path": str(path), "mode": oct(mode), "error": str(exc)},
            )
