"""``config/default.toml`` lists every setting the server has, with its default and a comment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from gomicroim.config import Settings, load_settings

DEFAULT_TOML = Path(__file__).resolve().parents[2] / "config" / "default.toml"
#: Tables whose keys are data (names chosen by the operator), not settings.
OPEN_TABLES = {"fanout.plugins"}


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and name not in OPEN_TABLES:
            out.update(flatten(item, f"{name}."))
        else:
            out[name] = item
    return out


def test_the_file_has_every_setting_with_its_built_in_default() -> None:
    in_file = flatten(tomllib.loads(DEFAULT_TOML.read_text()))
    built_in = flatten(msgspec.to_builtins(Settings()))

    assert sorted(set(built_in) - set(in_file)) == [], "settings missing from default.toml"
    assert sorted(set(in_file) - set(built_in)) == [], "default.toml keys the server lacks"
    differing = {k: (in_file[k], built_in[k]) for k in built_in if in_file[k] != built_in[k]}
    assert differing == {}, "default.toml value != built-in default"


def test_the_file_loads_to_the_built_in_settings() -> None:
    assert load_settings(DEFAULT_TOML, env={}) == Settings()


def test_every_key_is_explained_by_a_comment() -> None:
    lines = DEFAULT_TOML.read_text().splitlines()
    unexplained = []
    for number, line in enumerate(lines):
        match = re.match(r"^\s*([A-Za-z0-9_]+)\s*=", line)
        if match is None:
            continue
        above = lines[number - 1].lstrip() if number else ""
        if "#" not in line and not above.startswith("#"):
            unexplained.append(match.group(1))
    assert unexplained == []
