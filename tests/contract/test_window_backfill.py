"""Migration chat 0009 on a database with groups from before it: existing members keep history."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from gomicroim.config import load_settings
from gomicroim.container import tortoise_apps
from gomicroim.infra.database import _apps_config, database, migrate
from gomicroim.modules.chat.storage.visibility import SqlVisibilityStore
from gomicroim.modules.chat.visibility import SeqWindow
from tests.conftest import MYSQL_URL
from tests.contract.conftest import _admin, _in_thread, _with_db

BEFORE = MigrationTarget("chat", "0006_message_changes")


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Storage settings of an empty, unmigrated database."""
    if request.param == "sqlite":
        yield {"data_dir": str(tmp_path / "data")}
        return
    name = f"gomicroim_backfill_{secrets.token_hex(4)}"
    _in_thread(_admin(MYSQL_URL, f"CREATE DATABASE `{name}`"))
    try:
        yield {"data_dir": str(tmp_path / "data"), "database_url": _with_db(MYSQL_URL, name)}
    finally:
        _in_thread(_admin(MYSQL_URL, f"DROP DATABASE IF EXISTS `{name}`"))


async def test_members_from_before_the_migration_see_from_seq_one(storage: Any) -> None:
    settings = load_settings(env={}, overrides={"storage": {**storage, "migrate_on_start": False}})
    apps = tortoise_apps(settings)
    EXECUTOR_CACHE.clear()
    async with database(settings, apps) as ctx:
        conn = ctx.connections.get("default")
        await MigrationExecutor(conn, _apps_config(apps)).migrate([BEFORE])
        await conn.execute_script(
            "INSERT INTO chat_conversation (id, session_type, last_seq, updated_at, member_version)"
            " VALUES ('g:7', 'group', 5, 1, 2), ('s:1:2', 'single', 3, 1, 0);"
            " INSERT INTO chat_entry (user_id, conversation_id, read_seq, created_at)"
            " VALUES (1, 'g:7', 5, 1), (2, 'g:7', 0, 1), (1, 's:1:2', 3, 1), (2, 's:1:2', 3, 1)"
        )

        applied = await migrate(ctx, apps)

        assert "chat.0009_visibility_windows" in applied
        windows = SqlVisibilityStore()
        assert await windows.windows("g:7", 1) == [SeqWindow(start=1)]
        assert await windows.windows("g:7", 2) == [SeqWindow(start=1)]
        assert await windows.windows("s:1:2", 1) == []
        assert await windows.joined_after("g:7", 1) == {}
