"""``gomicroim backup FILE``: a consistent copy taken while the server runs, and its restore."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.client import Api, User, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.server import BASE_ENV, EXECUTABLE, ServerProcess

pytestmark = pytest.mark.e2e

DATABASE = "gomicroim.sqlite3"


def backup_command(data_dir: Path, target: Path) -> list[str]:
    return [str(EXECUTABLE), "backup", str(target), "--data-dir", str(data_dir)]


def environment(**env: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    out.update(BASE_ENV, **env)
    return out


def restore(backup: Path, from_data_dir: Path, to_data_dir: Path) -> None:
    """The documented restore: the backup becomes the database, next to the same secret."""
    to_data_dir.mkdir(mode=0o700)
    shutil.copy2(backup, to_data_dir / DATABASE)
    shutil.copy2(from_data_dir / "jwt_secret", to_data_dir / "jwt_secret")


async def test_a_backup_taken_during_sends_restores_every_message_acknowledged_before_it(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], tmp_path: Path
) -> None:
    server = start_server()
    api = connect(server)
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    conv = conversation_id(alice.id, bob.id)
    acked: dict[int, str] = {}
    for i in range(30):
        reply = await api.send(alice, bob.id, f"before {i}")
        acked[reply["seq"]] = reply["body"]

    stop = asyncio.Event()

    async def keep_sending() -> None:
        i = 0
        while not stop.is_set():
            reply = await api.send(alice, bob.id, f"during {i}")
            acked[reply["seq"]] = reply["body"]
            i += 1

    sender = asyncio.create_task(keep_sending())
    await asyncio.sleep(0.2)
    acked_before_backup = dict(acked)
    target = tmp_path / "backup.sqlite3"
    process = await asyncio.create_subprocess_exec(
        *backup_command(server.data_dir, target),
        env=environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    await asyncio.sleep(0.2)
    stop.set()
    await sender
    assert process.returncode == 0, err.decode()
    assert f"backup written to {target}" in out.decode()
    assert len(acked) > len(acked_before_backup), "sends kept going during the backup"

    # One self-contained file: no -wal beside it, private, and intact.
    assert_one_private_intact_file(target)

    restored_dir = tmp_path / "restored"
    restore(target, server.data_dir, restored_dir)
    restored = ServerProcess(data_dir=restored_dir, log_dir=tmp_path)
    restored.start()
    try:
        api2 = connect(restored)
        again = await api2.login(alice.username, device_id="restored")
        history = await all_history(api2, again, conv)
        seqs = [m["seq"] for m in history]
        # A snapshot: a gapless prefix of the conversation, holding every message that was
        # acknowledged before the backup began, each exactly as acknowledged.
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) >= len(acked_before_backup)
        assert {m["seq"]: m["body"] for m in history} == {s: acked[s] for s in seqs}
    finally:
        restored.stop()


def assert_one_private_intact_file(target: Path) -> None:
    names = sorted(p.name for p in target.parent.iterdir() if p.name.startswith(target.stem))
    assert names == [target.name]
    assert os.stat(target).st_mode & 0o077 == 0
    with sqlite3.connect(target) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def run_backup(data_dir: Path, target: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        backup_command(data_dir, target),
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def all_history(api: Api, user: User, conv: str) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = []
    after = 0
    while True:
        page = await api.page(user, conv, after_seq=after, limit=100)
        messages.extend(page["messages"])
        if not page["has_more"]:
            return messages
        after = page["messages"][-1]["seq"]


async def test_a_large_backup_reports_progress_on_stderr(
    server: ServerProcess, api: Api, tmp_path: Path
) -> None:
    alice = await api.register_and_login("big", client_type="web")
    bob = await api.register_and_login("bigger", client_type="web")
    body = "x" * 60_000
    await asyncio.gather(*(api.send(alice, bob.id, body) for _ in range(40)))  # > 2 MiB

    result = await asyncio.to_thread(run_backup, server.data_dir, tmp_path / "big.sqlite3")

    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("backup: ")]
    percents = [int(line.split()[1].rstrip("%")) for line in progress]
    assert len(percents) >= 2, result.stderr
    assert percents == sorted(set(percents)), percents
    assert percents[-1] == 100


def test_backup_of_a_mysql_database_says_which_tools_to_use(tmp_path: Path) -> None:
    result = run_backup(
        tmp_path,
        tmp_path / "x.sqlite3",
        GOMICROIM__STORAGE__DATABASE_URL="mysql://root:pw@127.0.0.1:3306/gomicroim",
        GOMICROIM__IDENTITY__JWT_SECRET="0123456789abcdef0123456789abcdef",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "mysqldump --single-transaction" in result.stderr
    assert "mariabackup" in result.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_backup_never_overwrites_a_file_and_needs_a_database(
    server: ServerProcess, tmp_path: Path
) -> None:
    existing = tmp_path / "keep.sqlite3"
    existing.write_text("an older backup")
    refused = run_backup(server.data_dir, existing)
    assert refused.returncode == 2
    assert f"{existing} exists" in refused.stderr
    assert existing.read_text() == "an older backup"

    empty = tmp_path / "empty-data"
    empty.mkdir()
    missing = run_backup(empty, tmp_path / "new.sqlite3")
    assert missing.returncode == 2
    assert "no database at" in missing.stderr
    assert not (tmp_path / "new.sqlite3").exists()
