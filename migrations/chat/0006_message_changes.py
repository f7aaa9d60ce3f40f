from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_conversation_list_index")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Hidden",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("conversation_id", fields.CharField(max_length=64)),
                ("seq", fields.BigIntField()),
                ("created_at", fields.BigIntField()),
            ],
            options={
                "table": "chat_hidden",
                "app": "chat",
                "unique_together": (("user_id", "conversation_id", "seq"),),
                "pk_attr": "id",
                "table_description": "A message one user deleted for themselves: left out of their history.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Message",
            name="edited_at",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="Message",
            name="recalled",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="Message",
            name="recalled_at",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="Message",
            name="recalled_by",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="Message",
            name="revision",
            field=fields.IntField(default=0, db_default=0),
        ),
    ]
