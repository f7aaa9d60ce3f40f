"""Pure helpers of the groups service: permission checks, input parsing, wire shapes. No I/O."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from gomicroim.errors import Forbidden, InvalidInput
from gomicroim.modules.groups import rules
from gomicroim.modules.groups.contract import GroupRead, MemberList, MemberRead
from gomicroim.modules.groups.ports import GroupRecord, MemberRecord

_T = TypeVar("_T")


def parse_cursor(cursor: str | None) -> int:
    """A member or group page cursor: the last id of the previous page (0: the first page)."""
    if cursor is None:
        return 0
    # ASCII digits only: int() would also accept other scripts' digits, spaces and "_".
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 16:
        raise InvalidInput(
            "cursor: pass back the next_cursor of the previous page",
            code="invalid_field",
            field="cursor",
        )
    return int(cursor)


def given(value: _T | msgspec.UnsetType) -> _T | None:
    """A PATCH field's value, or None when the request left it out."""
    return None if isinstance(value, msgspec.UnsetType) else value


def require(caller: MemberRecord, action: rules.Action) -> None:
    """Refuse (403 ``not_the_owner``) unless the caller's role allows ``action``."""
    if not rules.allowed(caller.role, action):
        raise Forbidden("only the group's owner may do this", code="not_the_owner")


def require_active(group: GroupRecord) -> None:
    """Refuse (403 ``group_dissolved``) any change to a dissolved group."""
    if group.dissolved:
        raise dissolved(group.id)


def dissolved(group_id: int) -> Forbidden:
    """The error of a send to, or a change of, a dissolved group."""
    return Forbidden(
        f"group {group_id} is dissolved: its history stays readable, nothing can be sent"
        " or changed",
        code="group_dissolved",
    )


def member_read(m: MemberRecord) -> MemberRead:
    """A member's wire shape."""
    return MemberRead(
        user_id=m.user_id, role=m.role, joined_at=m.joined_at, muted_until=m.muted_until
    )


def group_read(group: GroupRecord) -> GroupRead:
    """A group's wire shape."""
    return GroupRead(
        id=group.id,
        name=group.name,
        owner_id=group.owner_id,
        member_count=group.member_count,
        created_at=group.created_at,
        dissolved=group.dissolved,
        notice=group.notice,
        muted=group.muted,
        avatar_url=group.avatar_url,
    )


def member_list(group_id: int, members: list[MemberRecord]) -> MemberList:
    """A group's members' wire shape."""
    return MemberList(
        group_id=group_id,
        members=[member_read(m) for m in members],
    )
