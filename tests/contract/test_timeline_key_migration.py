"""Migration timeline 0003 on a database with entries from before it: same entries, same key."""

from __future__ import annotations

from typing import Any

from tortoise.migrations.executor import MigrationTarget

from gomicroim.modules.timeline.storage.sql import SqlTimelineStore
from tests.contract.conftest import migrated_to
from tests.contract.test_timeline_store import message

BEFORE = MigrationTarget("timeline", "0002_entry_revisions")


async def test_entries_from_before_the_migration_keep_their_seqs_and_are_not_stored_twice(
    unmigrated_storage: Any,
) -> None:
    async with migrated_to(unmigrated_storage, BEFORE) as db:
        store = SqlTimelineStore()
        first = message(1)
        assert await store.append(first, {1, 2}) == {1: 1, 2: 1}

        applied = await db.migrate_rest()

        assert "timeline.0003_entry_key_by_conversation" in applied
        # The same message again (a replayed fan-out) is found, not stored a second time.
        assert await store.append(first, {1, 2, 3}) == {1: 1, 2: 1, 3: 1}
        assert await store.append(message(2), {1, 2}) == {1: 2, 2: 2}
        page = await store.sync(1, 0, 10)
        assert [e.user_seq for e in page.entries] == [1, 2]
