"""Migration chat 0009 on a database with groups from before it: existing members keep history."""

from __future__ import annotations

from typing import Any

from tortoise.migrations.executor import MigrationTarget

from gomicroim.modules.chat.storage.visibility import SqlVisibilityStore
from gomicroim.modules.chat.visibility import SeqWindow
from tests.contract.conftest import migrated_to

BEFORE = MigrationTarget("chat", "0006_message_changes")


async def test_members_from_before_the_migration_see_from_seq_one(
    unmigrated_storage: Any,
) -> None:
    async with migrated_to(unmigrated_storage, BEFORE) as db:
        await db.connection.execute_script(
            "INSERT INTO chat_conversation (id, session_type, last_seq, updated_at, member_version)"
            " VALUES ('g:7', 'group', 5, 1, 2), ('s:1:2', 'single', 3, 1, 0);"
            " INSERT INTO chat_entry (user_id, conversation_id, read_seq, created_at)"
            " VALUES (1, 'g:7', 5, 1), (2, 'g:7', 0, 1), (1, 's:1:2', 3, 1), (2, 's:1:2', 3, 1)"
        )

        applied = await db.migrate_rest()

        assert "chat.0009_visibility_windows" in applied
        windows = SqlVisibilityStore()
        assert await windows.windows("g:7", 1) == [SeqWindow(start=1)]
        assert await windows.windows("g:7", 2) == [SeqWindow(start=1)]
        assert await windows.windows("s:1:2", 1) == []
        assert await windows.joined_after("g:7", 1) == {}
