from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Device",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("device_id", fields.CharField(max_length=64)),
                ("client_type", fields.CharField(max_length=16)),
                ("platform", fields.CharField(null=True, max_length=32)),
                ("last_login_at", fields.BigIntField()),
            ],
            options={
                "table": "identity_device",
                "app": "identity",
                "unique_together": (("user_id", "device_id"),),
                "pk_attr": "id",
                "table_description": "A device of a user, keyed by the client-chosen device id.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Session",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("device_id", fields.CharField(max_length=64)),
                ("client_type", fields.CharField(max_length=16)),
                ("refresh_hash", fields.CharField(max_length=64)),
                ("refresh_expires_at", fields.BigIntField()),
                ("created_at", fields.BigIntField()),
                ("revoked_at", fields.BigIntField(null=True, db_index=True)),
            ],
            options={
                "table": "identity_session",
                "app": "identity",
                "indexes": [Index(fields=["user_id", "device_id"])],
                "pk_attr": "id",
                "table_description": "One login of one device.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("username", fields.CharField(unique=True, max_length=32)),
                ("nickname", fields.CharField(max_length=64)),
                ("password_hash", fields.CharField(max_length=255)),
                ("created_at", fields.BigIntField()),
            ],
            options={
                "table": "identity_user",
                "app": "identity",
                "pk_attr": "id",
                "table_description": "A registered account.",
            },
            bases=["Model"],
        ),
    ]
