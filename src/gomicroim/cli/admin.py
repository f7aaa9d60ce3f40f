"""Operator commands: ``gomicroim users | invites | groups``, run against the configured database.

Each command builds the server's own container and opens only its engines (no HTTP, no lock:
they are short-lived writers that may run while the server does), does one thing and prints
one line per result on stdout. Exit status: 0 done, 1 refused (unknown user, name taken,
a password the policy refuses...), 2 cannot run (bad arguments, configuration, database).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gomicroim.clock import now_ms
from gomicroim.config import ConfigError, Settings

if TYPE_CHECKING:
    from gomicroim.container import Container
    from gomicroim.modules.identity.contract import AccountChanged, InviteRead

Action = Callable[["Container", argparse.Namespace], Awaitable[None]]

_DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users``, ``invites`` and ``groups`` to the top-level parser's subcommands."""
    users = _group(sub, "users", "create, disable, enable accounts and reset passwords")
    create = _action(users, "create", "create an account (whatever auth.registration says)")
    create.add_argument("username")
    create.add_argument("--nickname", help="display name (default: the username)")
    _password_flag(create)
    create.set_defaults(action=_users_create)
    for name, action, text in (
        ("disable", _users_disable, "refuse the account's logins and end all of its sessions"),
        ("enable", _users_enable, "let a disabled account log in again"),
    ):
        command = _action(users, name, text)
        command.add_argument("username")
        command.set_defaults(action=action)
    reset = _action(users, "reset-password", "set a new password and end all sessions")
    reset.add_argument("username")
    _password_flag(reset)
    reset.set_defaults(action=_users_reset_password)

    invites = _group(sub, "invites", 'invite codes for auth.registration = "invite"')
    make = _action(invites, "create", "create an invite code; it is printed only this once")
    make.add_argument("--uses", type=int, default=1, help="registrations it admits (default 1)")
    make.add_argument(
        "--expires-in",
        type=_duration_ms,
        default="7d",
        help="lifetime: 30m, 12h, 7d, 2w... or never (default 7d)",
    )
    make.add_argument("--note", default="", help="who it is for, shown by `invites list`")
    make.set_defaults(action=_invites_create)
    listing = _action(invites, "list", "list invites, newest first")
    listing.add_argument("--limit", type=_positive, default=100, help="at most this many")
    listing.set_defaults(action=_invites_list)
    revoke = _action(invites, "revoke", "make an invite unusable")
    revoke.add_argument("code_or_id", metavar="CODE_OR_ID")
    revoke.set_defaults(action=_invites_revoke)

    groups = _group(sub, "groups", "list and dissolve groups")
    group_list = _action(groups, "list", "list groups by ascending id")
    group_list.add_argument("--limit", type=_positive, default=100, help="at most this many")
    group_list.set_defaults(action=_groups_list)
    dissolve = _action(groups, "dissolve", "dissolve a group: history stays, sending stops")
    dissolve.add_argument("group_id", type=_positive, metavar="GROUP_ID")
    dissolve.set_defaults(action=_groups_dissolve)


def _group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    parser = sub.add_parser(name, help=text, description=text)
    return parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")


def _action(
    group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=text, description=text)
    parser.add_argument("--config", type=Path, help="TOML settings file (default: built-ins)")
    parser.add_argument("--data-dir", help="data directory for SQLite and the secret file")
    return parser


def _password_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of asking for it",
    )


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _duration_ms(text: str) -> int | None:
    """``7d`` as milliseconds; ``never`` as None."""
    if text == "never":
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: write a number and a unit (s, m, h, d, w), e.g. 7d,"
            " or never"
        )
    return int(match.group(1)) * _UNIT_S[match.group(2)] * 1000


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the chosen operator command against the engines ``settings`` select."""
    from gomicroim.app import build_container
    from gomicroim.errors import AppError
    from gomicroim.infra.engines import running

    action: Action = args.action
    container = build_container(settings)
    async with AsyncExitStack() as stack:
        for engine in container.engines():
            await stack.enter_async_context(running(engine))
        try:
            await action(container, args)
        except AppError as exc:
            # Refused for a reason about the target (unknown user, name taken...): exit 1.
            sys.stderr.write(f"gomicroim: {exc.message}\n")
            return 1
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise ConfigError(
            "no terminal to ask for the password on; pipe it in and pass --password-stdin"
        )
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise ConfigError("the two passwords differ; run the command again")
    return first


async def _users_create(container: Container, args: argparse.Namespace) -> None:
    account = await container.identity.admin().create_user(
        args.username, _password(args), args.nickname
    )
    print(f"created user {account.username} (id {account.id})")


async def _users_disable(container: Container, args: argparse.Namespace) -> None:
    change = await container.identity.admin().disable_user(args.username)
    state = "disabled" if change.changed else "was already disabled"
    print(f"{_who(change)} {state}; {change.sessions_ended} sessions ended")


async def _users_enable(container: Container, args: argparse.Namespace) -> None:
    change = await container.identity.admin().enable_user(args.username)
    print(f"{_who(change)} {'enabled' if change.changed else 'was not disabled'}")


async def _users_reset_password(container: Container, args: argparse.Namespace) -> None:
    password = _password(args)
    change = await container.identity.admin().reset_password(args.username, password)
    print(f"{_who(change)} has a new password; {change.sessions_ended} sessions ended")


def _who(change: AccountChanged) -> str:
    return f"user {change.account.username} (id {change.account.id})"


async def _invites_create(container: Container, args: argparse.Namespace) -> None:
    expires_at = None if args.expires_in is None else now_ms() + args.expires_in
    created = await container.identity.admin().create_invite(
        max_uses=args.uses, expires_at=expires_at, note=args.note
    )
    # The code first, so `| cut -d' ' -f1` takes it; it exists nowhere but in this line.
    print(f"{created.code} {_invite_line(created.invite)}")
    sys.stderr.write("gomicroim: keep the code now: only its hash is stored\n")


async def _invites_list(container: Container, args: argparse.Namespace) -> None:
    for invite in await container.identity.admin().list_invites(limit=args.limit):
        print(_invite_line(invite))


async def _invites_revoke(container: Container, args: argparse.Namespace) -> None:
    invite = await container.identity.admin().revoke_invite(args.code_or_id)
    print(f"revoked {_invite_line(invite)}")


def _invite_line(invite: InviteRead) -> str:
    now = now_ms()
    if invite.revoked_at is not None:
        status = "revoked"
    elif invite.expires_at is not None and invite.expires_at <= now:
        status = "expired"
    elif invite.uses >= invite.max_uses:
        status = "used-up"
    else:
        status = "active"
    expires = "never" if invite.expires_at is None else _iso(invite.expires_at)
    return (
        f"id={invite.id} status={status} uses={invite.uses}/{invite.max_uses}"
        f" expires={expires} created={_iso(invite.created_at)} note={invite.note!r}"
    )


async def _groups_list(container: Container, args: argparse.Namespace) -> None:
    page = await container.groups.service().all_groups(limit=args.limit, cursor=None)
    for group in page.groups:
        print(
            f"id={group.id} members={group.member_count} owner={group.owner_id}"
            f" created={_iso(group.created_at)} name={group.name!r}"
        )
    if page.next_cursor is not None:
        sys.stderr.write(
            f"gomicroim: more groups than --limit {args.limit}; raise it to see them\n"
        )


async def _groups_dissolve(container: Container, args: argparse.Namespace) -> None:
    # The same service call as DELETE /api/v1/groups/{id}, as an operator (no owner check).
    # Chat's service watches group changes: built first, it stores the group_dissolved
    # system message, which the server's outbox relay publishes once this claim lapses.
    container.chat.service()
    group = await container.groups.service().dissolve(args.group_id, None)
    print(
        f"group {group.id} dissolved (name={group.name!r}, members={group.member_count}):"
        " history stays readable, sending stops"
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
