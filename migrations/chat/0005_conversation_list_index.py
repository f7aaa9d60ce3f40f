from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_outbox_claims")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Conversation",
            index=Index(
                fields=["id", "updated_at", "last_seq", "session_type"],
                name="chat_conversation_list",
            ),
        ),
    ]
