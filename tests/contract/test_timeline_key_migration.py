"""Migration timeline 0003 on a database with entries from before it: same entries, same key."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from gomicroim.config import load_settings
from gomicroim.container import tortoise_apps
from gomicroim.infra.database import _apps_config, database, migrate
from gomicroim.modules.timeline.storage.sql import SqlTimelineStore
from tests.contract.test_timeline_store import message
from tests.contract.test_window_backfill import storage  # noqa: F401 - the fixture

BEFORE = MigrationTarget("timeline", "0002_entry_revisions")


async def test_entries_from_before_the_migration_keep_their_seqs_and_are_not_stored_twice(
    storage: Any,  # noqa: F811
) -> None:
    settings = load_settings(env={}, overrides={"storage": {**storage, "migrate_on_start": False}})
    apps = tortoise_apps(settings)
    EXECUTOR_CACHE.clear()
    async with database(settings, apps) as ctx:
        conn = ctx.connections.get("default")
        await MigrationExecutor(conn, _apps_config(apps)).migrate([BEFORE])
        store = SqlTimelineStore()
        first = message(1)
        assert await store.append(first, {1, 2}) == {1: 1, 2: 1}

        applied = await migrate(ctx, apps)

        assert "timeline.0003_entry_key_by_conversation" in applied
        # The same message again (a replayed fan-out) is found, not stored a second time.
        assert await store.append(first, {1, 2, 3}) == {1: 1, 2: 1, 3: 1}
        assert await store.append(message(2), {1, 2}) == {1: 2, 2: 2}
        page = await store.sync(1, 0, 10)
        assert [e.user_seq for e in page.entries] == [1, 2]
