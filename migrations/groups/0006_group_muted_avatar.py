from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("groups", "0005_member_muted_until")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Group",
            name="muted",
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name="Group",
            name="avatar_url",
            field=fields.CharField(max_length=2048, default=""),
        ),
    ]
