from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

OLD_KEY = ["user_id", "conversation_id", "seq"]


class RemoveTableUnique(ops.RemoveConstraint):
    """RemoveConstraint that also works on SQLite.

    SQLite cannot drop a UNIQUE written into CREATE TABLE (it has no name to drop), so there
    the table is rebuilt without it, keeping its rows, its ids and its other indexes.
    """

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if not state_editor or state_editor.client.capabilities.dialect != "sqlite":
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        if state_editor.collect_sql:
            state_editor.collected_sql.append("-- rebuild timeline_entry without its old key")
            return
        client = state_editor.client
        rows = await client.execute_query_dict(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'timeline_entry'"
            " AND sql IS NOT NULL"
        )
        table = next(r["sql"] for r in rows if r["type"] == "table")
        indexes = [r["sql"] for r in rows if r["type"] == "index"]
        lines = [
            line
            for line in table.splitlines()
            if not ("UNIQUE" in line and '"conversation_id"' in line and '"seq"' in line)
        ]
        # The line before the removed constraint may now end the list with a comma.
        body = "\n".join(lines).replace(",\n)", "\n)")
        body = body.replace('"timeline_entry"', '"timeline_entry__rebuild"', 1)
        await client.execute_script(
            body.rstrip().rstrip(";") + ";\n"  # noqa: S608 - DDL read back from sqlite_master
            'INSERT INTO "timeline_entry__rebuild" (id, user_id, user_seq, conversation_id, seq,'
            " message, created_at) SELECT id, user_id, user_seq, conversation_id, seq, message,"
            ' created_at FROM "timeline_entry";\n'
            'DROP TABLE "timeline_entry";\n'
            'ALTER TABLE "timeline_entry__rebuild" RENAME TO "timeline_entry";\n'
            + "".join(sql.rstrip(";") + ";\n" for sql in indexes)
        )


class Migration(migrations.Migration):
    dependencies = [("timeline", "0001_initial")]

    initial = False

    operations = [
        RemoveTableUnique(model_name="Entry", name=None, fields=OLD_KEY),
        ops.AddField(
            model_name="Entry",
            name="revision",
            field=fields.IntField(
                default=0,
                description="The message's revision: a recall or an edit is a further entry of the same seq.",
                db_default=0,
            ),
        ),
        ops.AddConstraint(
            model_name="Entry",
            constraint=UniqueConstraint(
                fields=("user_id", "conversation_id", "seq", "revision"), name=None
            ),
        ),
    ]
