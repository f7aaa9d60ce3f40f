"""Fake of groups' ``GroupStore``."""

from __future__ import annotations

import itertools

import msgspec

from gomicroim.modules.groups.contract import Role
from gomicroim.modules.groups.ports import GroupFull, GroupRecord, MemberRecord


class MemoryGroupStore:
    """``GroupStore`` in dicts; dict order is join order."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._groups: dict[int, GroupRecord] = {}
        self._members: dict[int, dict[int, MemberRecord]] = {}
        self._positions = itertools.count(1)

    async def create(
        self, *, name: str, owner_id: int, member_ids: set[int], now_ms: int
    ) -> GroupRecord:
        """Insert a group, its owner and members."""
        group_id = next(self._ids)
        members = {
            owner_id: MemberRecord(
                group_id=group_id,
                user_id=owner_id,
                role="owner",
                joined_at=now_ms,
                position=next(self._positions),
            )
        }
        for user_id in sorted(member_ids - {owner_id}):
            members[user_id] = MemberRecord(
                group_id=group_id,
                user_id=user_id,
                role="member",
                joined_at=now_ms,
                position=next(self._positions),
            )
        group = GroupRecord(
            id=group_id,
            name=name,
            owner_id=owner_id,
            member_count=len(members),
            member_version=1,
            created_at=now_ms,
        )
        self._groups[group_id] = group
        self._members[group_id] = members
        return group

    async def get(self, group_id: int) -> GroupRecord | None:
        """A group by id."""
        return self._groups.get(group_id)

    async def member(self, group_id: int, user_id: int) -> MemberRecord | None:
        """One membership."""
        return self._members.get(group_id, {}).get(user_id)

    async def groups_of(
        self, user_id: int, *, after_group_id: int, limit: int
    ) -> list[GroupRecord]:
        """Up to ``limit`` groups of ``user_id`` with ids above ``after_group_id``, ascending."""
        ids = sorted(
            g for g, members in self._members.items() if user_id in members and g > after_group_id
        )
        return [self._groups[g] for g in ids[:limit]]

    async def members(self, group_id: int) -> list[MemberRecord]:
        """All members, in join order."""
        return list(self._members.get(group_id, {}).values())

    async def members_page(
        self, group_id: int, *, after_position: int, limit: int
    ) -> list[MemberRecord]:
        """A page of members in join order."""
        members = self._members.get(group_id, {}).values()
        return [m for m in members if m.position > after_position][:limit]

    async def all_groups(self, *, after_group_id: int, limit: int) -> list[GroupRecord]:
        """Up to ``limit`` groups with ids above ``after_group_id``, ascending."""
        return [self._groups[g] for g in sorted(g for g in self._groups if g > after_group_id)][
            :limit
        ]

    async def add_members(
        self, group_id: int, user_ids: set[int], *, max_members: int, now_ms: int
    ) -> GroupRecord:
        """Add the users not yet members; raise :class:`GroupFull` past ``max_members``."""
        group = self._groups[group_id]
        members = self._members[group_id]
        new = sorted(user_ids - members.keys())
        if not new:
            return group
        if len(members) + len(new) > max_members:
            raise GroupFull(group_id)
        for user_id in new:
            members[user_id] = MemberRecord(
                group_id=group_id,
                user_id=user_id,
                role="member",
                joined_at=now_ms,
                position=next(self._positions),
            )
        return self._bump(group_id)

    async def remove_member(self, group_id: int, user_id: int) -> bool:
        """Remove a membership; False if there was none."""
        if self._members.get(group_id, {}).pop(user_id, None) is None:
            return False
        self._bump(group_id)
        return True

    async def member_ids(self, group_id: int) -> tuple[int, set[int]]:
        """Membership version and member ids."""
        return self._groups[group_id].member_version, set(self._members[group_id])

    async def set_role(self, group_id: int, user_id: int, role: Role) -> MemberRecord | None:
        """Change a member's role; None if ``user_id`` is not a member."""
        members = self._members.get(group_id, {})
        if user_id not in members:
            return None
        members[user_id] = msgspec.structs.replace(members[user_id], role=role)
        return members[user_id]

    async def transfer(self, group_id: int, new_owner_id: int) -> GroupRecord:
        """Make ``new_owner_id`` the owner and the old owner an admin."""
        group = self._groups[group_id]
        await self.set_role(group_id, group.owner_id, "admin")
        await self.set_role(group_id, new_owner_id, "owner")
        group = msgspec.structs.replace(group, owner_id=new_owner_id)
        self._groups[group_id] = group
        return group

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
        group = msgspec.structs.replace(self._groups[group_id], **changes)
        self._groups[group_id] = group
        return group

    async def set_mute(self, group_id: int, user_id: int, until: int) -> MemberRecord | None:
        """Set ``muted_until``; None if not a member."""
        members = self._members.get(group_id, {})
        if user_id not in members:
            return None
        members[user_id] = msgspec.structs.replace(members[user_id], muted_until=until)
        return members[user_id]

    async def mutes(self, group_id: int) -> dict[int, int]:
        """Members with a mute set."""
        members = self._members.get(group_id, {})
        return {u: m.muted_until for u, m in members.items() if m.muted_until > 0}

    async def dissolved_among(self, group_ids: set[int]) -> set[int]:
        """Dissolved groups among ``group_ids``."""
        return {g for g in group_ids if g in self._groups and self._groups[g].dissolved}

    async def co_members(self, user_id: int, candidates: set[int]) -> set[int]:
        """Candidates in a live group with ``user_id``."""
        out: set[int] = set()
        for group_id, members in self._members.items():
            if user_id in members and not self._groups[group_id].dissolved:
                out |= candidates & members.keys()
        return out

    async def moderators(self, group_id: int) -> set[int]:
        """Owner and admins."""
        members = self._members.get(group_id, {})
        return {u for u, m in members.items() if m.role != "member"}

    async def dissolve(self, group_id: int) -> GroupRecord:
        """Mark the group dissolved."""
        group = msgspec.structs.replace(self._groups[group_id], dissolved=True)
        self._groups[group_id] = group
        return group

    def _bump(self, group_id: int) -> GroupRecord:
        group = self._groups[group_id]
        group = msgspec.structs.replace(
            group,
            member_count=len(self._members[group_id]),
            member_version=group.member_version + 1,
        )
        self._groups[group_id] = group
        return group
