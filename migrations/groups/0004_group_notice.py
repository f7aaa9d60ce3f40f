from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("groups", "0003_group_dissolved")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Group",
            name="notice",
            field=fields.TextField(default=""),
        ),
    ]
