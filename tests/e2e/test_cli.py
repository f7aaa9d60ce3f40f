"""The command line as an operator uses it: ``gomicroim config`` and ``gomicroim bench``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import EXECUTABLE

pytestmark = pytest.mark.e2e

SECRET = "do-not-print-this-signing-key-0123456789"
DB_PASSWORD = "s3cret-db-pw"


def gomicroim(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    environment.update(env)
    return subprocess.run(
        [str(EXECUTABLE), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_prints_the_settings_with_secrets_masked(tmp_path: Path) -> None:
    result = gomicroim(
        "config",
        "--data-dir",
        str(tmp_path),
        GOMICROIM__IDENTITY__JWT_SECRET=SECRET,
        GOMICROIM__STORAGE__DATABASE_URL=f"mysql://chat:{DB_PASSWORD}@db.internal:3306/im",
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout
    assert DB_PASSWORD not in result.stdout
    settings = json.loads(result.stdout)
    assert settings["identity"]["jwt_secret"] == "***"
    assert settings["storage"]["database_url"] == "mysql://chat:***@db.internal:3306/im"
    # Everything else is shown as it is in force.
    assert settings["storage"]["data_dir"] == str(tmp_path)
    assert settings["identity"]["access_ttl_s"] == 3600


def test_config_shows_an_unset_secret_as_unset(tmp_path: Path) -> None:
    result = gomicroim("config", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert settings["identity"]["jwt_secret"] == ""
    assert settings["storage"]["database_url"] == ""


def test_bench_without_its_extra_says_how_to_install_it(tmp_path: Path) -> None:
    # The bench extra's modules, made unimportable for this process only.
    for name in ("aiohttp", "psutil"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f'raise ModuleNotFoundError("No module named {name}", name="{name}")\n'
        )
    result = gomicroim("bench", "--smoke", PYTHONPATH=str(tmp_path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        "gomicroim bench needs aiohttp, psutil: pip install 'gomicroim[bench]'"
        " (in a checkout: make install)"
    )
