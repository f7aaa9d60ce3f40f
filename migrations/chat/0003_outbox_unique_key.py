from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_case_sensitive_client_msg_ids")]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name="Outbox",
            constraint=UniqueConstraint(fields=("conversation_id", "seq"), name=None),
        ),
    ]
