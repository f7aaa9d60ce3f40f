"""Locates the schema migrations and exposes them as the ``gomicroim_migrations`` package."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PACKAGE = "gomicroim_migrations"


def migrations_dir() -> Path:
    """The migrations folder: shipped inside the wheel, or ``migrations/`` of a source checkout."""
    shipped = Path(__file__).resolve().parents[1] / "_migrations"
    if shipped.is_dir():
        return shipped
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    if checkout.is_dir():
        return checkout
    raise RuntimeError(
        f"no migrations found at {shipped} or {checkout}; reinstall gomicroim from a full checkout"
    )


def register_package() -> str:
    """Make ``gomicroim_migrations.<module>`` importable for tortoise's migration loader.

    Migrations live in the top-level ``migrations/`` folder (one package per module, as tortoise
    writes them) rather than inside ``src/``, so they are mapped in under a fixed name here.
    """
    if PACKAGE not in sys.modules:
        path = migrations_dir()
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(path)]
        module = importlib.util.module_from_spec(spec)
        module.__path__ = [str(path)]
        sys.modules[PACKAGE] = module
    return PACKAGE


def mysql_only(*statements: str) -> Callable[[Any, Any], Awaitable[None]]:
    """A ``RunPython`` body that runs ``statements`` on MySQL/MariaDB and nothing elsewhere.

    For what tortoise's field types cannot say, such as a binary collation: MySQL compares
    ``utf8mb4_general_ci`` text case-insensitively, SQLite does not.
    """

    async def run(_apps: Any, schema_editor: Any) -> None:
        client = schema_editor.client
        if client.capabilities.dialect != "mysql":
            return
        for statement in statements:
            await client.execute_script(statement)

    return run
