from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("groups", "0004_group_notice")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Member",
            name="muted_until",
            field=fields.BigIntField(default=0),
        ),
    ]
