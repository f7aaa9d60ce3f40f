from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("identity", "0005_invites_disabled_users")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Block",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("blocker_id", fields.BigIntField()),
                ("blocked_id", fields.BigIntField()),
                ("blocked_at", fields.BigIntField()),
            ],
            options={
                "table": "identity_block",
                "app": "identity",
                "unique_together": (("blocker_id", "blocked_id"),),
                "pk_attr": "id",
                "table_description": "``blocker_id`` refuses single-chat messages from ``blocked_id``.",
            },
            bases=["Model"],
        ),
    ]
