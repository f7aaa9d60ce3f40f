from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("chat", "0008_readers_index")]

    initial = False

    operations = [
        ops.CreateModel(
            name="VisibilityWindow",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("conversation_id", fields.CharField(max_length=64)),
                ("user_id", fields.BigIntField()),
                ("start_seq", fields.BigIntField()),
                ("end_seq", fields.BigIntField(null=True)),
                ("joined_at", fields.BigIntField()),
                ("left_at", fields.BigIntField(null=True)),
            ],
            options={
                "table": "chat_visibility_window",
                "app": "chat",
                "indexes": [
                    Index(fields=["user_id", "conversation_id"], name="chat_window_user"),
                    Index(fields=["conversation_id", "start_seq"], name="chat_window_start"),
                ],
                "pk_attr": "id",
                "table_description": "The seqs one member may see from one spell: ``start_seq`` to ``end_seq`` (null: open).",
            },
            bases=["Model"],
        ),
        # Members from before windows existed keep seeing the whole history: one open
        # window from seq 1 for each current entry of a group.
        ops.RunSQL(
            "INSERT INTO chat_visibility_window (conversation_id, user_id, start_seq, joined_at)"
            " SELECT e.conversation_id, e.user_id, 1, e.created_at FROM chat_entry e"
            " JOIN chat_conversation c ON c.id = e.conversation_id"
            " WHERE c.session_type = 'group'",
            reverse_sql="DELETE FROM chat_visibility_window",
        ),
    ]
