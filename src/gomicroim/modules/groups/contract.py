"""The groups module's public face: ``GroupsFacade`` and its wire types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.identity.contract import UserId
from gomicroim.patterns import DISPLAY_NAME, END

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
GroupNotice = Annotated[
    str,
    msgspec.Meta(
        max_length=4096,
        description="Up to groups.max_notice_chars of any text (newlines too); empty clears it.",
    ),
]


GroupAvatarUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=2048,
        pattern=f"^(https?://[^\\x00-\\x20\\x7f]+)?{END}",
        description="An http(s) URL of up to groups.max_avatar_url_chars, no spaces or control"
        " characters; empty clears it.",
    ),
]


class GroupCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /groups`` body; the caller becomes the owner and need not be listed."""

    name: GroupName
    member_ids: UserIds = msgspec.field(default_factory=list)


class MembersAdd(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /groups/{id}/members`` body."""

    user_ids: Annotated[list[UserId], msgspec.Meta(min_length=1, max_length=2000)]


class GroupEdit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PATCH /groups/{id}`` body: only the fields given change."""

    name: GroupName | msgspec.UnsetType = msgspec.UNSET
    notice: GroupNotice | msgspec.UnsetType = msgspec.UNSET
    avatar_url: GroupAvatarUrl | msgspec.UnsetType = msgspec.UNSET
    #: Mute-all: while true only the owner and admins may send.
    muted: bool | msgspec.UnsetType = msgspec.UNSET


class MuteRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /groups/{id}/members/{user_id}/mute`` body: muted until this time (ms)."""

    until: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]


class RoleChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PUT /groups/{id}/members/{user_id}/role`` body (the owner is made by a transfer)."""

    role: Literal["admin", "member"]


class OwnerTransfer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /groups/{id}/transfer`` body: the member who becomes the owner."""

    user_id: UserId


class GroupRead(msgspec.Struct, kw_only=True):
    """A group as members see it. ``dissolved``: nobody can send or change it any more.

    ``muted``: mute-all is on, only the owner and admins may send.
    """

    id: int
    name: str
    owner_id: int
    member_count: int
    created_at: int
    dissolved: bool = False
    notice: str = ""
    muted: bool = False
    avatar_url: str = ""


class GroupPage(msgspec.Struct, kw_only=True):
    """A page of the caller's groups, oldest group first.

    ``next_cursor`` is opaque: pass it back as ``cursor`` for the next page; null on the last.
    """

    groups: list[GroupRead]
    next_cursor: str | None


class MemberRead(msgspec.Struct, kw_only=True):
    """One member of a group; ``muted_until``: cannot send before this time (0: not muted)."""

    user_id: int
    role: Role
    joined_at: int
    muted_until: int = 0


class MemberList(msgspec.Struct, kw_only=True):
    """Members of a group in join order, a page at a time.

    ``next_cursor`` is opaque: pass it back as ``cursor`` for the next page; null on the last.
    """

    group_id: int
    members: list[MemberRead]
    next_cursor: str | None = None


class MemberSet(msgspec.Struct, frozen=True, kw_only=True):
    """Member ids with a version that changes whenever membership changes.

    ``muted_all``: mute-all is on; then only ``moderators`` (the owner and admins) may send.
    """

    group_id: int
    version: int
    user_ids: frozenset[int]
    dissolved: bool = False
    muted_until: dict[int, int] = msgspec.field(default_factory=dict)
    muted_all: bool = False
    moderators: frozenset[int] = frozenset()


#: Told the new member set after a membership change (see :meth:`GroupsFacade.watch_members`).
MembersWatcher = Callable[[MemberSet], Awaitable[None]]

GroupEvent = Literal[
    "group_created",
    "member_added",
    "member_removed",
    "member_left",
    "role_changed",
    "ownership_transferred",
    "member_muted",
    "member_unmuted",
    "group_renamed",
    "notice_changed",
    "avatar_changed",
    "group_muted",
    "group_unmuted",
    "group_dissolved",
]


class GroupChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Event: a group or its membership changed; told to watchers after the change is stored.

    ``change_id`` is made once per change, so whoever records the event can deduplicate a
    retry on it. ``actor_id`` is who made the change (None: an operator). ``targets`` are the
    members the change is about (the new members, the removed one, the one whose role or mute
    changed, the new owner); ``previous_owner_id`` is set by a transfer. ``name``, ``notice``,
    ``avatar_url``, ``role`` and ``until`` carry the new value for the events that set one.
    """

    group_id: int
    event: GroupEvent
    change_id: str
    actor_id: int | None
    at: int
    targets: tuple[int, ...] = ()
    previous_owner_id: int | None = None
    name: str | None = None
    notice: str | None = None
    avatar_url: str | None = None
    role: Role | None = None
    until: int | None = None


#: Told every :class:`GroupChanged` (see :meth:`GroupsFacade.watch_changes`).
ChangesWatcher = Callable[[GroupChanged], Awaitable[None]]


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

    async def members(
        self, group_id: int, caller_id: int, *, limit: int | None = None, cursor: str | None = None
    ) -> MemberList:
        """The members in join order, ``limit`` per page, for members only.

        ``limit`` None: ``groups.members_page_limit`` (500).

        Raises:
            NotFound: ``group_not_found``.
            Forbidden: ``not_a_member``.
            InvalidInput: ``invalid_field`` (``cursor``) for a cursor this server did not issue.
        """
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
            Conflict: ``owner_cannot_leave`` (transfer the ownership first).
        """
        ...

    async def set_role(
        self, group_id: int, caller_id: int, user_id: int, role: Literal["admin", "member"]
    ) -> MemberRead:
        """Make a member an admin or a plain member again (owner only).

        Raises:
            NotFound: ``group_not_found`` or ``member_not_found``.
            Forbidden: ``not_a_member``, ``not_the_owner``, ``group_dissolved``.
            Conflict: ``cannot_change_owner_role`` (the owner changes by a transfer).
        """
        ...

    async def transfer(self, group_id: int, caller_id: int, user_id: int) -> GroupRead:
        """Hand the group to member ``user_id`` (owner only); the old owner becomes an admin.

        Raises:
            NotFound: ``group_not_found`` or ``member_not_found``.
            Forbidden: ``not_a_member``, ``not_the_owner``, ``group_dissolved``.
            Conflict: ``already_owner`` when ``user_id`` is the caller.
        """
        ...

    async def dissolve(self, group_id: int, caller_id: int | None) -> GroupRead:
        """Dissolve the group (owner only; ``caller_id`` None: an operator).

        History stays readable to the members; sends answer 403 ``group_dissolved``.
        Idempotent.

        Raises:
            NotFound: ``group_not_found``.
            Forbidden: ``not_a_member``, ``not_the_owner``.
        """
        ...

    async def edit(self, group_id: int, caller_id: int, request: GroupEdit) -> GroupRead:
        """Rename the group, change its notice or avatar, or switch mute-all (owner or admin).

        Raises:
            InvalidInput: ``invalid_field`` past ``groups.max_name_chars``,
                ``groups.max_notice_chars`` or ``groups.max_avatar_url_chars``.
            NotFound: ``group_not_found``.
            Forbidden: ``not_a_member``, ``not_an_admin``, ``group_dissolved``.
        """
        ...

    async def mute(
        self, group_id: int, caller_id: int, user_id: int, until: int | None
    ) -> MemberRead:
        """Mute member ``user_id`` until ``until`` (ms; None: unmute).

        The owner mutes anyone but themself, an admin plain members; a muted sender's sends
        answer 403 ``member_muted`` and store nothing.

        Raises:
            InvalidInput: ``invalid_field`` (``until``) when it is not in the future.
            NotFound: ``group_not_found`` or ``member_not_found``.
            Forbidden: ``not_a_member``, ``not_an_admin``, ``group_dissolved``.
            Conflict: ``cannot_mute_owner``.
        """
        ...

    async def sendable_version(self, group_id: int, user_id: int) -> int:
        """As :meth:`membership_version`, for a send: also refuses a dissolved group.

        Raises:
            NotFound: ``group_not_found``.
            Forbidden: ``not_a_member``, ``group_dissolved``, ``member_muted``,
                ``group_muted`` (mute-all is on and the sender is neither owner nor admin).
        """
        ...

    async def dissolved_among(self, group_ids: set[int]) -> set[int]:
        """Which of ``group_ids`` are dissolved (one store query; unknown ids are not)."""
        ...

    async def co_members(self, user_id: int, candidates: set[int]) -> set[int]:
        """Which of ``candidates`` share a group with ``user_id`` (one store query).

        Dissolved groups do not count; ``user_id`` is among the answer when it is a candidate
        and belongs to a live group.
        """
        ...

    async def is_member(self, group_id: int, user_id: int) -> bool:
        """Whether ``user_id`` belongs to the group (False for unknown groups)."""
        ...

    async def share_group(self, user_a: int, user_b: int) -> bool:
        """Whether the two users are members of one group together that is not dissolved.

        One store query (not cached): chat asks it per single-chat send under
        ``chat.single_chat_policy = "shared_group"``.
        """
        ...

    async def role_of(self, group_id: int, user_id: int) -> Role | None:
        """``user_id``'s role in the group, read from the store; None for a non-member."""
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

    def watch_changes(self, watcher: ChangesWatcher) -> None:
        """Call ``watcher`` with a :class:`GroupChanged` after every change of a group.

        Told after the change is stored and after the member watchers, so a new member's
        entry exists when a watcher records the change (chat stores it as a system message).
        Changes made through this facade await their watchers before they return. A watcher
        that raises is logged; the change stands. A call that changes nothing (adding present
        members, setting the role a member has, dissolving a dissolved group) tells nobody.
        """
        ...
