"""Online backup of the embedded SQLite database, safe while the server runs."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from gomicroim.infra.datadir import FILE_MODE, fsync_path

#: Pages copied per step (SQLite's default page is 4 KiB: 1 MiB a step).
PAGES_PER_STEP = 256

#: ``progress(copied_pages, total_pages)``, called after every step.
Progress = Callable[[int, int], None]


class BackupError(Exception):
    """The backup cannot be made; the message names the cause and the fix."""


def backup_sqlite(source: Path, target: Path, progress: Progress | None = None) -> int:
    """Copy the database at ``source`` into a new file ``target``; return its size in bytes.

    SQLite's online backup API copies the database as one consistent snapshot, including what
    is still only in the write-ahead log (a plain file copy misses that, or copies a torn
    state). The snapshot is a read transaction held for the whole copy, so the running server
    keeps writing meanwhile and the copy never restarts. The result is one self-contained
    file (rollback journal mode) that is written under a temporary name, checked with
    ``PRAGMA quick_check`` and only then renamed to ``target``.

    Raises:
        BackupError: no database at ``source``, ``target`` exists, or SQLite failed.
    """
    if not source.is_file():
        raise BackupError(f"no database at {source}; check --data-dir or storage.data_dir")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new file name or delete it first")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        _copy(source, partial, progress)
        _check(partial)
        fsync_path(partial)
        partial.rename(target)
        fsync_path(target.parent)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"backup of {source} to {target} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def _copy(source: Path, partial: Path, progress: Progress | None) -> None:
    src = sqlite3.connect(source, timeout=30, isolation_level=None)
    dst = sqlite3.connect(partial, isolation_level=None)
    try:
        # A read transaction on the source connection pins one snapshot for every step;
        # without it, each write by the server between two steps would restart the copy.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchall()

        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        src.backup(dst, pages=PAGES_PER_STEP, progress=step)
        src.execute("COMMIT")
        # The server's file is in WAL mode; the copy should need no -wal file beside it.
        dst.execute("PRAGMA journal_mode=DELETE").fetchall()
    finally:
        dst.close()
        src.close()


def _check(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        result = connection.execute("PRAGMA quick_check").fetchall()
    finally:
        connection.close()
    if result != [("ok",)]:
        raise BackupError(f"the copy does not pass PRAGMA quick_check: {result[:3]}")
