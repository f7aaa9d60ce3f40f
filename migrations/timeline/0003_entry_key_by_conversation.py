"""Entries' unique key leads with the conversation: (conversation_id, seq, revision, user_id).

The same key, in the order a fan-out writes it: one message's entries for all its users are
neighbours, so a batch appends to the end of the index instead of touching one page per user.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

OLD_KEY = ["user_id", "conversation_id", "seq", "revision"]


class RemoveUniqueIndex(ops.RemoveConstraint):
    """RemoveConstraint that finds the index by its columns.

    tortoise names a unique index ``uid_...`` when it creates it on SQLite, ``uidx_...`` on
    MySQL, and guesses ``uid_...`` when dropping it; the columns are what is certain.
    """

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if not state_editor:
            return
        if state_editor.collect_sql:
            state_editor.collected_sql.append(f"-- drop the unique index on {OLD_KEY}")
            return
        client = state_editor.client
        if client.capabilities.dialect == "sqlite":
            indexes = await client.execute_query_dict("PRAGMA index_list('timeline_entry')")
            for index in indexes:
                name = index["name"]
                columns = await client.execute_query_dict(f"PRAGMA index_info('{name}')")
                if [c["name"] for c in columns] == OLD_KEY:
                    await client.execute_script(f'DROP INDEX "{name}";')
            return
        rows = await client.execute_query_dict(
            "SELECT index_name AS name, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS columns"
            " FROM information_schema.statistics WHERE table_schema = DATABASE()"
            " AND table_name = 'timeline_entry' GROUP BY index_name"
        )
        for row in rows:
            if row["columns"] == ",".join(OLD_KEY):
                await client.execute_script(f"ALTER TABLE timeline_entry DROP INDEX `{row['name']}`;")


class Migration(migrations.Migration):
    dependencies = [("timeline", "0002_entry_revisions")]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name="Entry",
            constraint=UniqueConstraint(
                fields=("conversation_id", "seq", "revision", "user_id"), name=None
            ),
        ),
        RemoveUniqueIndex(model_name="Entry", name=None, fields=OLD_KEY),
    ]
