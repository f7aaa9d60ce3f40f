"""The generated signing secret: private, complete, one per data directory, checked on read."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gomicroim.config import ConfigError, Settings, load_settings
from gomicroim.infra.secrets import SECRET_FILE, jwt_secret


def settings_for(data_dir: Path) -> Settings:
    return load_settings(env={}, overrides={"storage": {"data_dir": str(data_dir)}})


def test_a_generated_secret_is_long_private_and_kept(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    secret = jwt_secret(settings)

    path = tmp_path / "data" / SECRET_FILE
    assert len(secret) >= 32
    assert path.read_text() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [SECRET_FILE]  # no temp file left
    assert jwt_secret(settings) == secret


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: jwt_secret(settings), range(16)))
    assert len(secrets) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [SECRET_FILE]


@pytest.mark.parametrize("stored", ["", "\n", "short-secret"])
def test_a_damaged_secret_file_is_refused_naming_it_and_the_fix(
    tmp_path: Path, stored: str
) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / SECRET_FILE
    path.write_text(stored)

    with pytest.raises(ConfigError) as raised:
        jwt_secret(settings_for(tmp_path / "data"))

    message = str(raised.value)
    assert str(path) in message
    assert "delete the file" in message
    assert "identity.jwt_secret" in message
    assert "\n" not in message


def test_a_configured_secret_must_be_long_enough(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        overrides={"storage": {"data_dir": str(tmp_path)}, "identity": {"jwt_secret": "x" * 31}},
    )
    with pytest.raises(ConfigError, match=r"identity\.jwt_secret: must be at least 32"):
        jwt_secret(settings)
