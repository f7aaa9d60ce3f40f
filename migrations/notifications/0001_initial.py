"""Push tokens of devices, for the offline-push webhook."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from gomicroim.infra.migrations import mysql_only


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="PushToken",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("user_id", fields.BigIntField()),
                ("device_id", fields.CharField(max_length=64)),
                ("platform", fields.CharField(max_length=16)),
                ("token", fields.TextField(unique=False)),
                ("updated_at", fields.BigIntField()),
            ],
            options={
                "table": "notifications_push_token",
                "app": "notifications",
                "unique_together": (("user_id", "device_id"),),
                "pk_attr": "id",
                "table_description": "The push token of one device of one user, deleted with the token.",
            },
            bases=["Model"],
        ),
        # Device ids are case-sensitive, as in identity_device.
        ops.RunPython(
            mysql_only(
                "ALTER TABLE notifications_push_token MODIFY device_id"
                " VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL",
            ),
            reverse_code=ops.RunPython.noop,
        ),
    ]
