from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

from gomicroim.infra.migrations import mysql_only


class Migration(migrations.Migration):
    dependencies = [("identity", "0003_case_sensitive_device_ids")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Session",
            name="live_key",
            field=fields.CharField(null=True, unique=True, max_length=100),
        ),
        ops.RunPython(
            mysql_only(
                "ALTER TABLE identity_session MODIFY live_key"
                " VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NULL"
            ),
            reverse_code=ops.RunPython.noop,
        ),
    ]
