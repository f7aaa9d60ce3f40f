from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("chat", "0009_visibility_windows")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Entry",
            name="muted_until",
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name="Entry",
            name="pinned",
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
