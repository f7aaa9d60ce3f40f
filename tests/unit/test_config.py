"""Settings: defaults, TOML files, ``GOMICROIM__SECTION__KEY`` overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gomicroim.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gomicroim.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as err:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return str(err.value)


def test_without_sources_the_defaults_apply() -> None:
    settings = load_settings(env={})

    assert settings == Settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.chat.max_body_bytes == 65536
    assert settings.embedded


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_file_loads(path: Path) -> None:
    load_settings(path, env={})


def test_a_toml_file_sets_values_and_leaves_the_rest_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nport = 9000\nnode_id = "n7"\n[chat]\nmax_body_bytes = 1024\n'
        '[storage]\ndatabase_url = "mysql://u:p@db:3306/im"\n',
    )

    settings = load_settings(path, env={})

    assert (settings.server.port, settings.server.node_id) == (9000, "n7")
    assert settings.chat.max_body_bytes == 1024
    assert settings.server.host == "127.0.0.1"
    assert settings.groups.max_members == 2000
    assert not settings.embedded


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nhost = '10.0.0.5'\n")

    settings = load_settings(
        path,
        env={
            "GOMICROIM__SERVER__PORT": "9100",
            "GOMICROIM__STORAGE__MIGRATE_ON_START": "false",
            "GOMICROIM__LIMITS__REQUESTS_PER_SECOND": "2.5",
            "GOMICROIM__LOG__LEVEL": "DEBUG",
        },
    )

    assert settings.server.port == 9100
    assert settings.server.host == "10.0.0.5"
    assert settings.storage.migrate_on_start is False
    assert settings.limits.requests_per_second == 2.5
    assert settings.log.level == "DEBUG"


def test_environment_keys_are_case_insensitive() -> None:
    assert load_settings(env={"GOMICROIM__server__Port": "9200"}).server.port == 9200


def test_unrelated_and_section_less_variables_are_ignored() -> None:
    settings = load_settings(
        env={"HOME": "/root", "GOMICROIM__PORT": "1", "GOMICROIM_SERVER__PORT": "1"}
    )

    assert settings.server.port == 8080


def test_overrides_win_over_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")

    settings = load_settings(
        path, env={"GOMICROIM__SERVER__PORT": "9100"}, overrides={"server": {"port": 0}}
    )

    assert settings.server.port == 0


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    assert str(missing) in config_error(path=missing, env={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = 1\n")

    assert str(path) in config_error(path=path, env={})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nport = 'eighty'\n", "server.port"),
        ("[chat]\nmax_page_size = 0\n", "chat.max_page_size"),
        ("[chat]\nmax_body_bytes = -1\n", "chat.max_body_bytes"),
        ("[log]\nlevel = 'LOUD'\n", "log.level"),
        ("[storage]\nmigrate_on_start = 'perhaps'\n", "storage.migrate_on_start"),
        ("[groups]\nformer_member_history = 'always'\n", "groups.former_member_history"),
        ("[groups]\nnew_members_see_history = 'yes'\n", "groups.new_members_see_history"),
        ("server = 5\n", "server"),
    ],
)
def test_an_invalid_value_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    message = config_error(path=write(tmp_path, text), env={})

    assert f"{key}:" in message


def test_an_invalid_environment_value_names_its_key() -> None:
    message = config_error(env={"GOMICROIM__SERVER__PORT": "eighty"})

    assert "server.port" in message


def test_an_invalid_override_names_its_key() -> None:
    assert "groups.max_members" in config_error(env={}, overrides={"groups": {"max_members": 0}})


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[server]\nprot = 8080\n", ("server", "prot")),
        ("[srever]\nport = 8080\n", ("srever",)),
    ],
)
def test_unknown_keys_in_a_file_are_rejected(
    tmp_path: Path, text: str, names: tuple[str, ...]
) -> None:
    message = config_error(path=write(tmp_path, text), env={})

    assert all(name in message for name in names)


def test_unknown_keys_in_the_environment_are_rejected() -> None:
    message = config_error(env={"GOMICROIM__SERVER__PROT": "8080"})

    assert "prot" in message
    assert "server" in message


def test_a_malformed_json_array_in_the_environment_is_an_error() -> None:
    message = config_error(env={"GOMICROIM__SERVER__HOST": "[not json"})

    assert "[not json" in message


def test_data_path_is_the_data_dir() -> None:
    settings = load_settings(env={}, overrides={"storage": {"data_dir": "/var/lib/im"}})

    assert settings.data_path == Path("/var/lib/im")
