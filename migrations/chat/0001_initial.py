from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Conversation",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                ("session_type", fields.CharField(max_length=8)),
                ("last_seq", fields.BigIntField(default=0)),
                ("last_message", fields.TextField(null=True, unique=False)),
                ("updated_at", fields.BigIntField()),
                ("member_version", fields.BigIntField(default=0)),
            ],
            options={
                "table": "chat_conversation",
                "app": "chat",
                "pk_attr": "id",
                "table_description": "Seq counter and last message of one conversation.",
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
                ("conversation_id", fields.CharField(db_index=True, max_length=64)),
                ("read_seq", fields.BigIntField(default=0)),
                ("created_at", fields.BigIntField()),
            ],
            options={
                "table": "chat_entry",
                "app": "chat",
                "unique_together": (("user_id", "conversation_id"),),
                "pk_attr": "id",
                "table_description": "Read position of one user in one conversation.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("conversation_id", fields.CharField(max_length=64)),
                ("seq", fields.BigIntField()),
                ("sender_id", fields.BigIntField()),
                ("to_id", fields.BigIntField()),
                ("session_type", fields.CharField(max_length=8)),
                ("client_msg_id", fields.CharField(max_length=64)),
                ("msg_type", fields.CharField(max_length=16)),
                ("body", fields.TextField(unique=False)),
                ("created_at", fields.BigIntField()),
            ],
            options={
                "table": "chat_message",
                "app": "chat",
                "unique_together": (("conversation_id", "seq"), ("sender_id", "client_msg_id")),
                "pk_attr": "id",
                "table_description": "Stored message history, kept forever.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Outbox",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("conversation_id", fields.CharField(max_length=64)),
                ("seq", fields.BigIntField()),
                ("payload", fields.TextField(unique=False)),
                ("created_at", fields.BigIntField()),
                ("published_at", fields.BigIntField(null=True, db_index=True)),
            ],
            options={
                "table": "chat_outbox",
                "app": "chat",
                "pk_attr": "id",
                "table_description": "Committed-message events waiting for the relay to the bus.",
            },
            bases=["Model"],
        ),
    ]
