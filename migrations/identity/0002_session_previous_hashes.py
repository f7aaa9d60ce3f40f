from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Session",
            name="previous_hashes",
            field=fields.TextField(null=True, unique=False),
        ),
    ]
