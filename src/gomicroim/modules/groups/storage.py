"""Groups storage: tortoise models and the SQL adapter of :class:`GroupStore`."""

from __future__ import annotations

from typing import cast

from tortoise import fields, models
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from gomicroim.infra.database import placeholder
from gomicroim.modules.groups.contract import Role
from gomicroim.modules.groups.ports import GroupFull, GroupRecord, MemberRecord


class Group(models.Model):
    """A group. member_version moves on every membership change."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=255)
    owner_id = fields.BigIntField()
    member_count = fields.IntField(default=0)
    member_version = fields.BigIntField(default=1)
    created_at = fields.BigIntField()
    dissolved = fields.BooleanField(default=False)
    notice = fields.TextField(default="")
    muted = fields.BooleanField(default=False)
    avatar_url = fields.CharField(max_length=2048, default="")

    class Meta:
        table = "groups_group"


class Member(models.Model):
    """Membership of one user in one group."""

    id = fields.BigIntField(primary_key=True)
    group_id = fields.BigIntField()
    user_id = fields.BigIntField(db_index=True)
    role = fields.CharField(max_length=8)
    joined_at = fields.BigIntField()
    muted_until = fields.BigIntField(default=0)

    class Meta:
        table = "groups_member"
        unique_together = (("group_id", "user_id"),)


def _group(row: Group) -> GroupRecord:
    return GroupRecord(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        member_count=row.member_count,
        member_version=row.member_version,
        created_at=row.created_at,
        dissolved=row.dissolved,
        notice=row.notice,
        muted=row.muted,
        avatar_url=row.avatar_url,
    )


def _member(row: Member) -> MemberRecord:
    return MemberRecord(
        group_id=row.group_id,
        user_id=row.user_id,
        role=cast(Role, row.role),
        joined_at=row.joined_at,
        muted_until=row.muted_until,
        position=row.id,
    )


class SqlGroupStore:
    """``GroupStore`` on the relational database."""

    async def create(
        self, *, name: str, owner_id: int, member_ids: set[int], now_ms: int
    ) -> GroupRecord:
        """Insert group, owner and members in one transaction."""
        async with in_transaction():
            group = await Group.create(
                name=name, owner_id=owner_id, member_count=len(member_ids) + 1, created_at=now_ms
            )
            rows = [Member(group_id=group.id, user_id=owner_id, role="owner", joined_at=now_ms)]
            rows += [
                Member(group_id=group.id, user_id=uid, role="member", joined_at=now_ms)
                for uid in sorted(member_ids)
            ]
            await Member.bulk_create(rows)
        return _group(group)

    async def get(self, group_id: int) -> GroupRecord | None:
        """A group by id."""
        row = await Group.get_or_none(id=group_id)
        return _group(row) if row else None

    async def member(self, group_id: int, user_id: int) -> MemberRecord | None:
        """One membership."""
        row = await Member.get_or_none(group_id=group_id, user_id=user_id)
        return _member(row) if row else None

    async def groups_of(
        self, user_id: int, *, after_group_id: int, limit: int
    ) -> list[GroupRecord]:
        """A user's groups by ascending id (the member index on user_id finds them)."""
        ids = await (
            Member.filter(user_id=user_id, group_id__gt=after_group_id)
            .order_by("group_id")
            .limit(limit)
            .values_list("group_id", flat=True)
        )
        if not ids:
            return []
        rows = await Group.filter(id__in=list(ids)).order_by("id")
        return [_group(r) for r in rows]

    async def members(self, group_id: int) -> list[MemberRecord]:
        """All members in join order."""
        return [_member(r) for r in await Member.filter(group_id=group_id).order_by("id")]

    async def members_page(
        self, group_id: int, *, after_position: int, limit: int
    ) -> list[MemberRecord]:
        """A page of members in join order (the row id is the position)."""
        rows = (
            await Member.filter(group_id=group_id, id__gt=after_position)
            .order_by("id")
            .limit(limit)
        )
        return [_member(r) for r in rows]

    async def all_groups(self, *, after_group_id: int, limit: int) -> list[GroupRecord]:
        """Every group by ascending id, a page at a time."""
        rows = await Group.filter(id__gt=after_group_id).order_by("id").limit(limit)
        return [_group(r) for r in rows]

    async def add_members(
        self, group_id: int, user_ids: set[int], *, max_members: int, now_ms: int
    ) -> GroupRecord:
        """Add new members under the group row's lock so the limit holds across replicas."""
        async with in_transaction():
            group = await Group.select_for_update().get(id=group_id)
            present = set(
                await Member.filter(group_id=group_id, user_id__in=list(user_ids)).values_list(
                    "user_id", flat=True
                )
            )
            new = sorted(user_ids - present)
            if not new:
                return _group(group)
            if group.member_count + len(new) > max_members:
                raise GroupFull(group_id)
            await Member.bulk_create(
                [Member(group_id=group_id, user_id=u, role="member", joined_at=now_ms) for u in new]
            )
            await Group.filter(id=group_id).update(
                member_count=F("member_count") + len(new), member_version=F("member_version") + 1
            )
            await group.refresh_from_db()
        return _group(group)

    async def remove_member(self, group_id: int, user_id: int) -> bool:
        """Remove a membership and bump the version."""
        async with in_transaction():
            deleted = await Member.filter(group_id=group_id, user_id=user_id).delete()
            if deleted:
                await Group.filter(id=group_id).update(
                    member_count=F("member_count") - 1, member_version=F("member_version") + 1
                )
        return bool(deleted)

    async def member_ids(self, group_id: int) -> tuple[int, set[int]]:
        """Version and member ids."""
        group = await Group.get(id=group_id)
        ids = await Member.filter(group_id=group_id).values_list("user_id", flat=True)
        return group.member_version, {int(cast(int, i)) for i in ids}

    async def set_role(self, group_id: int, user_id: int, role: Role) -> MemberRecord | None:
        """Change a member's role."""
        updated = await Member.filter(group_id=group_id, user_id=user_id).update(role=role)
        return await self.member(group_id, user_id) if updated else None

    async def transfer(self, group_id: int, new_owner_id: int) -> GroupRecord:
        """Swap owner and new owner under the group row's lock."""
        async with in_transaction():
            group = await Group.select_for_update().get(id=group_id)
            await Member.filter(group_id=group_id, user_id=group.owner_id).update(role="admin")
            await Member.filter(group_id=group_id, user_id=new_owner_id).update(role="owner")
            await Group.filter(id=group_id).update(owner_id=new_owner_id)
            await group.refresh_from_db()
        return _group(group)

    async def edit(
        self,
        group_id: int,
        *,
        name: str | None = None,
        notice: str | None = None,
        avatar_url: str | None = None,
        muted: bool | None = None,
    ) -> GroupRecord:
        """Change the fields given."""
        given = {"name": name, "notice": notice, "avatar_url": avatar_url, "muted": muted}
        changes = {k: v for k, v in given.items() if v is not None}
        if changes:
            await Group.filter(id=group_id).update(**changes)
        return _group(await Group.get(id=group_id))

    async def set_mute(self, group_id: int, user_id: int, until: int) -> MemberRecord | None:
        """Set ``muted_until``."""
        updated = await Member.filter(group_id=group_id, user_id=user_id).update(muted_until=until)
        return await self.member(group_id, user_id) if updated else None

    async def mutes(self, group_id: int) -> dict[int, int]:
        """Members with a mute set."""
        rows = await Member.filter(group_id=group_id, muted_until__gt=0).values_list(
            "user_id", "muted_until"
        )
        return {int(cast(int, u)): int(cast(int, t)) for u, t in rows}

    async def dissolved_among(self, group_ids: set[int]) -> set[int]:
        """Dissolved groups among ``group_ids`` (primary key lookups)."""
        if not group_ids:
            return set()
        ids = await Group.filter(id__in=sorted(group_ids), dissolved=True).values_list(
            "id", flat=True
        )
        return {int(cast(int, i)) for i in ids}

    async def co_members(self, user_id: int, candidates: set[int]) -> set[int]:
        """One self-join of the membership table, by its user and (group, user) indexes."""
        if not candidates:
            return set()
        db = Member._meta.db
        mark = placeholder(db)
        marks = ", ".join([mark] * len(candidates))
        # Only parameter marks are formatted in; the values are bound.
        sql = (
            "SELECT DISTINCT o.user_id AS user_id FROM groups_member m"  # noqa: S608
            " JOIN groups_member o ON o.group_id = m.group_id"
            " JOIN groups_group g ON g.id = m.group_id"
            f" WHERE m.user_id = {mark} AND g.dissolved = {mark} AND o.user_id IN ({marks})"
        )
        rows = await db.execute_query_dict(sql, [user_id, False, *sorted(candidates)])
        return {int(r["user_id"]) for r in rows}

    async def moderators(self, group_id: int) -> set[int]:
        """Owner and admins."""
        ids = await Member.filter(group_id=group_id, role__in=["owner", "admin"]).values_list(
            "user_id", flat=True
        )
        return {int(cast(int, i)) for i in ids}

    async def dissolve(self, group_id: int) -> GroupRecord:
        """Mark dissolved."""
        await Group.filter(id=group_id).update(dissolved=True)
        return _group(await Group.get(id=group_id))
