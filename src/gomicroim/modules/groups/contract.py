"""The groups module's public face: ``GroupsFacade`` and its wire types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.identity.contract import UserId
from gomicroim.patterns import DISPLAY_NAME

Role = Literal["owner", "admin", "member"]
GroupName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=DISPLAY_NAME,
        description="Up to groups.max_name_chars; no control characters, escapes or"
        " bidirectional overrides.",
    ),
]
UserIds = Annotated[list[UserId], msgspec.Meta(max_length=2000)]


class GroupCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /groups`` body; the caller becomes the owner and need not be listed."""

    name: GroupName
    member_ids: UserIds = msgspec.field(default_factory=list)


class MembersAdd(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /groups/{id}/members`` body."""

    user_ids: Annotated[list[UserId], msgspec.Meta(min_length=1, max_length=2000)]


class GroupRead(msgspec.Struct, kw_only=True):
    """A group as members see it."""

    id: int
    name: str
    owner_id: int
    member_count: int
    created_at: int


class GroupPage(msgspec.Struct, kw_only=True):
    """A page of the caller's groups, oldest group first.

    ``next_cursor`` is opaque: pass it back as ``cursor`` for the next page; null on the last.
    """

    groups: list[GroupRead]
    next_cursor: str | None


class MemberRead(msgspec.Struct, kw_only=True):
    """One member of a group."""

    user_id: int
    role: Role
    joined_at: int


class MemberList(msgspec.Struct, kw_only=True):
    """All members of a group."""

    group_id: int
    members: list[MemberRead]


class MemberSet(msgspec.Struct, frozen=True, kw_only=True):
    """Member ids with a version that changes whenever membership changes."""

    group_id: int
    version: int
    user_ids: frozenset[int]


#: Told the new member set after a membership change (see :meth:`GroupsFacade.watch_members`).
MembersWatcher = Callable[[MemberSet], Awaitable[None]]


@runtime_checkable
class GroupsFacade(Protocol):
    """Groups and membership."""

    async def create(self, owner_id: int, request: GroupCreate) -> GroupRead:
        """Create a group owned by ``owner_id`` with the listed members.

        Raises:
            NotFound: ``user_not_found`` if a listed user does not exist.
            Conflict: ``group_full`` above ``groups.max_members``.
        """
        ...

    async def get(self, group_id: int, caller_id: int) -> GroupRead:
        """A group, for its members.

        Raises:
            NotFound: ``group_not_found``.
            Forbidden: ``not_a_member``.
        """
        ...

    async def groups_of(self, user_id: int, *, limit: int, cursor: str | None) -> GroupPage:
        """The groups ``user_id`` belongs to, by ascending group id, ``limit`` per page.

        Raises:
            InvalidInput: ``invalid_field`` (``cursor``) for a cursor this server did not issue.
        """
        ...

    async def all_groups(self, *, limit: int, cursor: str | None) -> GroupPage:
        """Every group, by ascending id, for operators (``gomicroim groups list``).

        Raises:
            InvalidInput: ``invalid_field`` (``cursor``) for a cursor this server did not issue.
        """
        ...

    async def members(self, group_id: int, caller_id: int) -> MemberList:
        """The members, for members only (same errors as :meth:`get`)."""
        ...

    async def add_members(self, group_id: int, caller_id: int, user_ids: list[int]) -> MemberList:
        """Add users (owner or admin only); already present users are ignored.

        Raises:
            Forbidden: ``not_a_member`` or ``not_an_admin``.
            NotFound: ``group_not_found`` or ``user_not_found``.
            Conflict: ``group_full``.
        """
        ...

    async def remove_member(self, group_id: int, caller_id: int, user_id: int) -> None:
        """Remove ``user_id`` (owner or admin), or leave when ``user_id == caller_id``.

        Raises:
            Forbidden: ``not_a_member``, ``not_an_admin`` (or removing an admin as an admin).
            NotFound: ``group_not_found`` or ``member_not_found``.
            Conflict: ``owner_cannot_leave``.
        """
        ...

    async def is_member(self, group_id: int, user_id: int) -> bool:
        """Whether ``user_id`` belongs to the group (False for unknown groups)."""
        ...

    async def membership_version(self, group_id: int, user_id: int) -> int:
        """The group's membership version, checking that ``user_id`` is a member.

        Raises:
            NotFound: ``group_not_found``.
            Forbidden: ``not_a_member``.
        """
        ...

    async def member_set(self, group_id: int) -> MemberSet:
        """Current member ids and membership version.

        Raises:
            NotFound: ``group_not_found``.
        """
        ...

    def watch_members(self, watcher: MembersWatcher) -> None:
        """Call ``watcher`` with the new member set after every membership change.

        Changes made through this facade (create, add, remove or leave) await their watchers
        before they return, so what a watcher derives (chat's conversation entries) is in
        place when the client hears of the change. A watcher that raises is logged; the
        change stands.
        """
        ...
