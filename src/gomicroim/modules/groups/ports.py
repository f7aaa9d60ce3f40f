"""What the groups service needs: group storage and a way to check users exist."""

from __future__ import annotations

from typing import Protocol

import msgspec

from gomicroim.modules.groups.contract import Role


class GroupRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored group."""

    id: int
    name: str
    owner_id: int
    member_count: int
    member_version: int
    created_at: int
    dissolved: bool = False
    notice: str = ""
    muted: bool = False
    avatar_url: str = ""


class MemberRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored membership."""

    group_id: int
    user_id: int
    role: Role
    joined_at: int
    muted_until: int = 0
    #: Orders members by join (grows with every join, a rejoin too); member pages page by it.
    position: int = 0


class GroupFull(Exception):
    """Raised when adding would pass the member limit; nothing was added."""


class GroupStore(Protocol):
    """Groups and memberships; member count and version change atomically with membership."""

    async def create(
        self, *, name: str, owner_id: int, member_ids: set[int], now_ms: int
    ) -> GroupRecord:
        """Insert a group, its owner and members."""
        ...

    async def get(self, group_id: int) -> GroupRecord | None:
        """A group by id."""
        ...

    async def member(self, group_id: int, user_id: int) -> MemberRecord | None:
        """One membership."""
        ...

    async def groups_of(
        self, user_id: int, *, after_group_id: int, limit: int
    ) -> list[GroupRecord]:
        """Up to ``limit`` groups of ``user_id`` with ids above ``after_group_id``, ascending."""
        ...

    async def members(self, group_id: int) -> list[MemberRecord]:
        """All members, in join order."""
        ...

    async def members_page(
        self, group_id: int, *, after_position: int, limit: int
    ) -> list[MemberRecord]:
        """Up to ``limit`` members with ``position`` above ``after_position``, in join order."""
        ...

    async def all_groups(self, *, after_group_id: int, limit: int) -> list[GroupRecord]:
        """Up to ``limit`` groups with ids above ``after_group_id``, ascending (operators)."""
        ...

    async def add_members(
        self, group_id: int, user_ids: set[int], *, max_members: int, now_ms: int
    ) -> GroupRecord:
        """Add the users not yet members; raise :class:`GroupFull` past ``max_members``."""
        ...

    async def remove_member(self, group_id: int, user_id: int) -> bool:
        """Remove a membership; False if there was none."""
        ...

    async def member_ids(self, group_id: int) -> tuple[int, set[int]]:
        """Membership version and member ids."""
        ...

    async def set_role(self, group_id: int, user_id: int, role: Role) -> MemberRecord | None:
        """Change a member's role; None if ``user_id`` is not a member."""
        ...

    async def transfer(self, group_id: int, new_owner_id: int) -> GroupRecord:
        """Make member ``new_owner_id`` the owner and the old owner an admin, atomically."""
        ...

    async def edit(
        self,
        group_id: int,
        *,
        name: str | None = None,
        notice: str | None = None,
        avatar_url: str | None = None,
        muted: bool | None = None,
    ) -> GroupRecord:
        """Change the name, notice, avatar URL and/or mute-all flag (None: keep)."""
        ...

    async def set_mute(self, group_id: int, user_id: int, until: int) -> MemberRecord | None:
        """Set a member's ``muted_until`` (0: not muted); None if not a member."""
        ...

    async def mutes(self, group_id: int) -> dict[int, int]:
        """``user_id -> muted_until`` of the members with a mute set."""
        ...

    async def dissolved_among(self, group_ids: set[int]) -> set[int]:
        """The ids among ``group_ids`` of dissolved groups."""
        ...

    async def co_members(self, user_id: int, candidates: set[int]) -> set[int]:
        """Those of ``candidates`` in at least one group with ``user_id`` that is not dissolved.

        ``user_id`` itself counts when it belongs to such a group.
        """
        ...

    async def moderators(self, group_id: int) -> set[int]:
        """The ids of the owner and the admins."""
        ...

    async def dissolve(self, group_id: int) -> GroupRecord:
        """Mark the group dissolved; members and history stay."""
        ...


class MembersChanged(msgspec.Struct, frozen=True, kw_only=True):
    """A group's membership changed: every process drops its cached member set."""

    group_id: int


class UserDirectory(Protocol):
    """Which users exist (identity's facade serves this)."""

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        """The subset of ``user_ids`` that exist."""
        ...
