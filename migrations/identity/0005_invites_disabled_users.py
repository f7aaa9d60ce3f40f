from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("identity", "0004_session_live_key")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Invite",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("code_hash", fields.CharField(unique=True, max_length=64)),
                ("uses", fields.IntField(default=0)),
                ("max_uses", fields.IntField()),
                ("expires_at", fields.BigIntField(null=True)),
                ("note", fields.CharField(default="", max_length=200)),
                ("created_at", fields.BigIntField()),
                ("revoked_at", fields.BigIntField(null=True)),
            ],
            options={
                "table": "identity_invite",
                "app": "identity",
                "pk_attr": "id",
                "table_description": "An invite code, by the SHA-256 of the code: the code itself is never stored.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Session",
            name="end_reason",
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name="User",
            name="disabled_at",
            field=fields.BigIntField(null=True),
        ),
    ]
