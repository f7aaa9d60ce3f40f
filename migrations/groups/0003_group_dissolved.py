from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("groups", "0002_longer_group_names")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Group",
            name="dissolved",
            field=fields.BooleanField(default=False),
        ),
    ]
