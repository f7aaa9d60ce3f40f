"""Device ids are case-sensitive: give them a binary collation on MySQL/MariaDB."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from gomicroim.infra.migrations import mysql_only


class Migration(migrations.Migration):
    dependencies = [("identity", "0002_session_previous_hashes")]

    initial = False

    operations = [
        ops.RunPython(
            mysql_only(
                "ALTER TABLE identity_device MODIFY device_id"
                " VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL",
                "ALTER TABLE identity_session MODIFY device_id"
                " VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL",
            ),
            reverse_code=ops.RunPython.noop,
        ),
    ]
