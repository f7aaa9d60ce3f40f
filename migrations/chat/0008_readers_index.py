from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_message_changes")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Entry",
            index=Index(
                fields=["conversation_id", "read_seq", "user_id"], name="chat_entry_readers"
            ),
        ),
    ]
