"""A start that cannot work stops at once: one line naming the cause and the fix, exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import BASE_ENV, EXECUTABLE, ServerProcess

pytestmark = pytest.mark.e2e

#: Far longer than a failing start needs, far shorter than "hangs forever".
TIMEOUT_S = 30
SECRET = "0123456789abcdef0123456789abcdef-test"


def run(*args: str, prefix: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    environment.update(BASE_ENV, **env)
    return subprocess.run(
        [*prefix, str(EXECUTABLE), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, no traceback, and the last stderr line is the error naming every needle."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("gomicroim: "), result.stderr
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture(scope="module")
def used_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory a server has run on (database, secret), stopped again."""
    root = tmp_path_factory.mktemp("used")
    server = ServerProcess(data_dir=root / "data", log_dir=root)
    server.start()
    server.stop()
    return root / "data"


def read_only(data_dir: Path) -> tuple[str, ...]:
    """A command prefix under which ``data_dir`` is read-only, the way the process sees it.

    As root, permissions do not stop writes, so the directory is bind-mounted read-only in
    a private mount namespace (nothing outside the command sees the mount). Otherwise the
    directory's write bits are taken away.
    """
    if os.geteuid() != 0:
        data_dir.chmod(0o500)
        return ()
    if shutil.which("unshare") is None:
        pytest.fail("running as root, this test needs unshare(1) (util-linux) to mount read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ("unshare", "--mount", "sh", "-c", script, str(data_dir))


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_read_only_data_directory_fails_fast_naming_the_fix(
    used_data_dir: Path, tmp_path: Path, command: str
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(used_data_dir, data_dir)
    before = {p.name: p.read_bytes() for p in data_dir.iterdir()}
    args = [command, "--data-dir", str(data_dir)] + (["--port", "0"] if command == "serve" else [])

    result = run(*args, prefix=read_only(data_dir))

    assert_one_line_error(result, "storage.data_dir", str(data_dir), "writable")
    data_dir.chmod(0o700)
    assert {p.name: p.read_bytes() for p in data_dir.iterdir()} == before


CONFIG_MISTAKES = {
    "unknown fan-out strategy": (
        {"GOMICROIM__FANOUT__CLIENT_STRATEGIES__APP": "fastest"},
        ("fanout.client_strategies.app", "'fastest'", "read, write"),
    ),
    "plugin module that does not exist": (
        {"GOMICROIM__FANOUT__PLUGINS__HYBRID": "no_such_package.fanout:Hybrid"},
        ("fanout.plugins.hybrid", "no_such_package.fanout:Hybrid"),
    ),
    "plugin path without a class": (
        {"GOMICROIM__FANOUT__PLUGINS__HYBRID": "gomicroim.fanout.strategy:NoSuchClass"},
        ("fanout.plugins.hybrid", "NoSuchClass"),
    ),
    "unreachable database": (
        {
            # Port 1 on loopback: nothing listens, the connection is refused at once.
            "GOMICROIM__STORAGE__DATABASE_URL": "mysql://root:hunter2@127.0.0.1:1/gomicroim",
            "GOMICROIM__IDENTITY__JWT_SECRET": SECRET,
        },
        ("cannot open database", "127.0.0.1:1", "storage.database_url"),
    ),
    "unreachable mongodb": (
        {
            "GOMICROIM__TIMELINE__BACKEND": "mongo",
            "GOMICROIM__MONGO__URL": "mongodb://im:hunter2@127.0.0.1:1/",
            "GOMICROIM__MONGO__TIMEOUT_S": "0.5",
        },
        ("MongoDB is unavailable", "mongodb://im:***@127.0.0.1:1/", "check mongo.url"),
    ),
}


@pytest.mark.parametrize("case", CONFIG_MISTAKES.values(), ids=CONFIG_MISTAKES.keys())
def test_a_start_up_mistake_is_one_line_and_exit_2(
    tmp_path: Path, case: tuple[dict[str, str], tuple[str, ...]]
) -> None:
    env, needles = case
    result = run("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), **env)
    line = assert_one_line_error(result, *needles)
    assert "hunter2" not in result.stderr
    assert "Uvicorn running" not in result.stderr, line


def test_migrate_against_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run(
        "migrate",
        GOMICROIM__STORAGE__DATABASE_URL="mysql://root:hunter2@127.0.0.1:1/gomicroim",
        GOMICROIM__IDENTITY__JWT_SECRET=SECRET,
    )
    assert_one_line_error(result, "cannot open database", "storage.database_url")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("content", ["", "too-short\n"], ids=["empty", "short"])
def test_a_damaged_secret_file_names_the_file_and_the_fix(
    used_data_dir: Path, tmp_path: Path, content: str
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(used_data_dir, data_dir)
    (data_dir / "jwt_secret").write_text(content)

    result = run("serve", "--port", "0", "--data-dir", str(data_dir))

    assert_one_line_error(
        result, str(data_dir / "jwt_secret"), "delete the file", "identity.jwt_secret"
    )
