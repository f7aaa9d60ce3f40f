"""Command line: ``gomicroim serve | migrate | config | bench``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import msgspec

from gomicroim import __version__
from gomicroim.config import ConfigError, Settings, load_settings
from gomicroim.errors import Unavailable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gomicroim", description="gomicroim IM server")
    parser.add_argument("--version", action="version", version=f"gomicroim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="bind address (server.host)")
    serve.add_argument("--port", type=int, help="bind port, 0 picks a free one (server.port)")
    _role_flags(serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations and exit")
    _common(migrate)

    sub.add_parser("bench", help="run load scenarios (see `gomicroim bench --help`)")

    show = sub.add_parser("config", help="print the effective settings as JSON and exit")
    _common(show)
    _role_flags(show)
    return parser


def _role_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--roles",
        help="comma-separated roles this process runs: api, gateway, fanout (server.roles)",
    )
    parser.add_argument("--node-id", help="this node's id in a cluster (server.node_id)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (default: built-ins)")
    parser.add_argument("--data-dir", help="data directory for SQLite and the secret file")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides.setdefault("server", {})["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides.setdefault("server", {})["port"] = args.port
    if getattr(args, "roles", None) is not None:
        # Validated with the settings, so a flag and a config file get the same messages.
        roles = [role.strip() for role in args.roles.split(",") if role.strip()]
        overrides.setdefault("server", {})["roles"] = roles
    if getattr(args, "node_id", None) is not None:
        overrides.setdefault("server", {})["node_id"] = args.node_id
    if args.data_dir:
        overrides.setdefault("storage", {})["data_dir"] = args.data_dir
    return load_settings(args.config, overrides=overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gomicroim`` script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from gomicroim.bench.cli import main as bench_main

        return bench_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "serve":
            from gomicroim.server import serve

            return serve(settings)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(settings)).decode() + "\n")
        return 0
    except (ConfigError, Unavailable) as exc:
        sys.stderr.write(f"gomicroim: {exc}\n")
        return 2


async def _migrate(settings: Settings) -> int:
    from gomicroim.container import tortoise_apps
    from gomicroim.infra import database

    forced = msgspec.structs.replace(
        settings, storage=msgspec.structs.replace(settings.storage, migrate_on_start=False)
    )
    apps = tortoise_apps(settings)
    async with database.database(forced, apps) as ctx:
        applied = await database.migrate(ctx, apps)
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0
