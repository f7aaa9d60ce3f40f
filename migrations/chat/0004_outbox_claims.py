from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_outbox_unique_key")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Outbox",
            name="claim_until",
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Outbox",
            name="claimed_by",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
    ]
