from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Group",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("name", fields.CharField(max_length=64)),
                ("owner_id", fields.BigIntField()),
                ("member_count", fields.IntField(default=0)),
                ("member_version", fields.BigIntField(default=1)),
                ("created_at", fields.BigIntField()),
            ],
            options={
                "table": "groups_group",
                "app": "groups",
                "pk_attr": "id",
                "table_description": "A group. member_version moves on every membership change.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Member",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("group_id", fields.BigIntField()),
                ("user_id", fields.BigIntField(db_index=True)),
                ("role", fields.CharField(max_length=8)),
                ("joined_at", fields.BigIntField()),
            ],
            options={
                "table": "groups_member",
                "app": "groups",
                "unique_together": (("group_id", "user_id"),),
                "pk_attr": "id",
                "table_description": "Membership of one user in one group.",
            },
            bases=["Model"],
        ),
    ]
