"""Command line: ``gomicroim serve | migrate | backup | config | bench``."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from gomicroim import __version__
from gomicroim.config import ConfigError, Settings, check_shape, load_settings
from gomicroim.errors import Unavailable

if TYPE_CHECKING:
    from gomicroim.infra.database import TortoiseApp

#: Settings whose values are secrets: ``gomicroim config`` shows ``***`` instead.
_SECRET_KEY = re.compile(r"secret|password|passwd", re.IGNORECASE)
MASK = "***"


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

    backup = sub.add_parser(
        "backup",
        help="copy the embedded SQLite database to FILE, safe while the server runs",
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="the new backup file")
    _common(backup)

    sub.add_parser("bench", help="run load scenarios (see `gomicroim bench --help`)")

    show = sub.add_parser(
        "config", help="print the effective settings as JSON (secrets masked) and exit"
    )
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
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "serve":
            from gomicroim.server import serve

            _preflight(settings)
            return serve(settings)
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "backup":
            return _backup(settings, args.file)
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(masked(settings))).decode() + "\n")
        return 0
    except (ConfigError, Unavailable) as exc:
        # One line: an operator's terminal or a supervisor's log shows the cause and the fix.
        sys.stderr.write(f"gomicroim: {' '.join(str(exc).split())}\n")
        return 2


def masked(settings: Settings) -> Any:
    """The settings as builtins with secrets replaced by ``***``, the way logs show them.

    Keys naming a secret or password lose their value; passwords inside URLs (a database,
    Redis or broker URL) are masked like :func:`~gomicroim.infra.database.describe_url` does.
    """
    return _mask(msgspec.to_builtins(settings), "")


def _mask(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str) and value:
        if _SECRET_KEY.search(key):
            return MASK
        return _mask_url(value)
    return value


def _mask_url(text: str) -> str:
    from gomicroim.infra.database import describe_url

    try:
        return describe_url(text)
    except ValueError:  # not a URL urlsplit can read: nothing to mask either
        return text


def _preflight(settings: Settings) -> None:
    """Fail before the server starts, with a one-line error, on what would stop its start.

    Inside uvicorn's start-up a failure becomes a traceback and a hang-prone lifespan; here
    it is a ConfigError or Unavailable that :func:`main` prints as one line, exit status 2.
    """
    from gomicroim.container import mongo_models, tortoise_apps
    from gomicroim.infra.logging import configure_logging

    configure_logging(settings.log)
    # A shape that cannot work is refused before anything is created on disk.
    check_shape(settings)
    apps = tortoise_apps(settings)
    if apps:
        # Opens the database (migrating it if configured to) and closes it again: an
        # unreachable database, a read-only data directory or a failing migration is
        # reported right here.
        asyncio.run(_open_database(settings, apps))
    if mongo_models(settings):
        # The same for MongoDB: an unreachable server or a refused index is one line here.
        asyncio.run(_open_mongo(settings))
    if settings.shared_state_backend == "redis":
        asyncio.run(_check_redis(settings))


async def _open_database(settings: Settings, apps: list[TortoiseApp]) -> None:
    from gomicroim.infra import database

    async with database.database(settings, apps):
        pass


async def _check_redis(settings: Settings) -> None:
    """Redis answers, and a gateway's node id is not held by another live process."""
    from gomicroim.infra.broadcast import LocalBroadcast
    from gomicroim.infra.redis import RedisEngine
    from gomicroim.modules.presence.service import PresenceService
    from gomicroim.modules.presence.storage import RedisPresenceStore

    engine = RedisEngine(settings.redis)
    try:
        await engine.ping()
        if "gateway" in settings.server.roles:
            # Taken and given back at once; the gateway takes it for good as it starts.
            presence = PresenceService(
                store=RedisPresenceStore(engine),
                events=LocalBroadcast("preflight"),
                lease_ms=int(settings.redis.presence_lease_s * 1000),
            )
            async with presence.hold(settings.node_id):
                pass
    finally:
        await engine.stop()


async def _open_mongo(settings: Settings) -> None:
    from gomicroim.container import mongo_models
    from gomicroim.infra.mongo import MongoEngine

    engine = MongoEngine(settings.mongo)
    await engine.open(mongo_models(settings))
    await engine.close()


async def _migrate(settings: Settings) -> int:
    from gomicroim.container import tortoise_apps
    from gomicroim.infra import database

    applied = await database.migrate_once(settings, tortoise_apps(settings))
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def _backup(settings: Settings, target: Path) -> int:
    from gomicroim.infra.backup import BackupError, backup_sqlite
    from gomicroim.infra.database import sqlite_path

    url = settings.storage.database_url
    if url and not url.startswith("sqlite"):
        raise ConfigError(
            "gomicroim backup copies the embedded SQLite database only; back up MySQL or"
            " MariaDB with their own tools: mysqldump --single-transaction, or mariabackup"
        )
    source = Path(url.split("://", 1)[1].split("?", 1)[0]) if url else sqlite_path(settings)
    try:
        size = backup_sqlite(source, target, _progress_lines())
    except BackupError as exc:
        raise ConfigError(str(exc)) from exc
    print(f"backup written to {target} ({size / 1_048_576:.1f} MiB)")
    return 0


def _progress_lines() -> Callable[[int, int], None]:
    from gomicroim.infra.backup import PAGES_PER_STEP

    shown = -1

    def show(copied: int, total: int) -> None:
        # Only a file that takes more than one step is worth it; one line per tenth of the way.
        nonlocal shown
        if total <= PAGES_PER_STEP or copied * 10 // total <= shown:
            return
        shown = copied * 10 // total
        sys.stderr.write(f"backup: {copied * 100 // total}% of {total} pages\n")

    return show


def _bench(argv: list[str]) -> int:
    from gomicroim.bench import INSTALL_HINT, missing_dependencies

    missing = missing_dependencies()
    if missing:
        sys.stderr.write(f"gomicroim bench needs {', '.join(missing)}: {INSTALL_HINT}\n")
        return 2
    from gomicroim.bench.cli import main as bench_main

    return bench_main(argv)
