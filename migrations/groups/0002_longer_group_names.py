from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("groups", "0001_initial")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Group",
            name="name",
            field=fields.CharField(max_length=255),
        ),
    ]
