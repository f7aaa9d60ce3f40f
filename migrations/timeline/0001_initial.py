from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Cursor",
            fields=[
                (
                    "user_id",
                    fields.BigIntField(
                        primary_key=True, generated=False, unique=True, db_index=True
                    ),
                ),
                ("last_seq", fields.BigIntField(default=0)),
            ],
            options={
                "table": "timeline_cursor",
                "app": "timeline",
                "pk_attr": "user_id",
                "table_description": "The last user seq handed out in one user timeline. Never lowered, never deleted.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Entry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("user_seq", fields.BigIntField()),
                ("conversation_id", fields.CharField(max_length=64)),
                ("seq", fields.BigIntField()),
                ("message", fields.TextField(unique=False)),
                ("created_at", fields.BigIntField(db_index=True)),
            ],
            options={
                "table": "timeline_entry",
                "app": "timeline",
                "unique_together": (("user_id", "user_seq"), ("user_id", "conversation_id", "seq")),
                "pk_attr": "id",
                "table_description": "One message in one user timeline at its user seq, kept for timeline.retention_days.",
            },
            bases=["Model"],
        ),
    ]
