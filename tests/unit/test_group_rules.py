"""The one role x action table every group check reads."""

from __future__ import annotations

from typing import get_args

import pytest

from gomicroim.modules.groups import rules
from gomicroim.modules.groups.contract import Role

Y, N = True, False

#: action: (owner, admin, member). The README's role table says the same.
TABLE: dict[rules.Action, tuple[bool, bool, bool]] = {
    "read": (Y, Y, Y),
    "send": (Y, Y, Y),
    "leave": (N, Y, Y),
    "add_members": (Y, Y, N),
    "remove_member": (Y, Y, N),
    "remove_admin": (Y, N, N),
    "edit": (Y, Y, N),
    "mute_all": (Y, Y, N),
    "send_while_muted_all": (Y, Y, N),
    "mute_member": (Y, Y, N),
    "mute_admin": (Y, N, N),
    "set_role": (Y, N, N),
    "transfer": (Y, N, N),
    "dissolve": (Y, N, N),
}
ROLES: tuple[Role, ...] = ("owner", "admin", "member")


def test_the_table_covers_every_action_and_role() -> None:
    assert set(TABLE) == set(get_args(rules.Action))
    assert set(rules.RULES) == set(get_args(Role))


@pytest.mark.parametrize(
    ("role", "action", "expected"),
    [(role, action, row[i]) for action, row in TABLE.items() for i, role in enumerate(ROLES)],
)
def test_role_may_do_action(role: Role, action: rules.Action, expected: bool) -> None:
    assert rules.allowed(role, action) is expected


@pytest.mark.parametrize(
    ("target", "needed"),
    [("owner", None), ("admin", "remove_admin"), ("member", "remove_member")],
)
def test_removing_needs_the_action_for_the_target_role(
    target: Role, needed: rules.Action | None
) -> None:
    assert rules.removal_action(target) == needed


@pytest.mark.parametrize(
    ("target", "needed"),
    [("owner", None), ("admin", "mute_admin"), ("member", "mute_member")],
)
def test_muting_needs_the_action_for_the_target_role(
    target: Role, needed: rules.Action | None
) -> None:
    assert rules.mute_action(target) == needed
