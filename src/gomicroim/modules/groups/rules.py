"""Pure group rules: which role may do what. No I/O; the one table every check reads."""

from __future__ import annotations

from typing import Literal

from gomicroim.modules.groups.contract import Role

Action = Literal[
    "read",
    "send",
    "leave",
    "add_members",
    "remove_member",
    "remove_admin",
    "edit",
    "mute_all",
    "send_while_muted_all",
    "mute_member",
    "mute_admin",
    "set_role",
    "transfer",
    "dissolve",
]

#: role x action -> allowed. ``remove_member`` removes a plain member, ``remove_admin`` an
#: admin; the owner can be neither removed nor leave (``leave`` is False: transfer first).
#: ``mute_all`` switches mute-all; ``send_while_muted_all``: may still send while it is on.
RULES: dict[Role, frozenset[Action]] = {
    "owner": frozenset(
        {
            "read",
            "send",
            "add_members",
            "remove_member",
            "remove_admin",
            "edit",
            "mute_all",
            "send_while_muted_all",
            "mute_member",
            "mute_admin",
            "set_role",
            "transfer",
            "dissolve",
        }
    ),
    "admin": frozenset(
        {
            "read",
            "send",
            "leave",
            "add_members",
            "remove_member",
            "edit",
            "mute_all",
            "send_while_muted_all",
            "mute_member",
        }
    ),
    "member": frozenset({"read", "send", "leave"}),
}


def allowed(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return action in RULES[role]


def removal_action(target: Role) -> Action | None:
    """The action removing a member of role ``target`` needs; None: nobody may (the owner)."""
    if target == "owner":
        return None
    return "remove_admin" if target == "admin" else "remove_member"


def mute_action(target: Role) -> Action | None:
    """The action muting a member of role ``target`` needs; None: nobody may (the owner)."""
    if target == "owner":
        return None
    return "mute_admin" if target == "admin" else "mute_member"
