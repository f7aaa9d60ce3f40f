"""client_msg_id is case-sensitive: give it a binary collation on MySQL/MariaDB."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from gomicroim.infra.migrations import mysql_only


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    initial = False

    operations = [
        ops.RunPython(
            mysql_only(
                "ALTER TABLE chat_message MODIFY client_msg_id"
                " VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL",
            ),
            reverse_code=ops.RunPython.noop,
        ),
    ]
