"""``docker/nginx.conf`` as ``gomicroim.infra.nginx`` renders it: valid, true to the settings.

``nginx -t`` runs the real nginx (``/usr/sbin/nginx``) on the rendered file with a prefix in
the test's directory; no daemon is started. Running it in front of a server is
``tests/e2e/test_nginx_replicas.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gomicroim.config import ConfigError, load_settings
from gomicroim.infra.nginx import main, render, template_path, values

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = template_path().read_text(encoding="utf-8")


def nginx_t(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    if not Path(NGINX).exists():
        pytest.fail(f"nginx is not installed at {NGINX}: apt-get install nginx")
    return subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_template_is_the_checkout_file() -> None:
    assert template_path() == Path(__file__).resolve().parents[2] / "docker" / "nginx.conf"


def test_the_loopback_rendering_passes_nginx_t(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    user = ["--user", "root"] if os.geteuid() == 0 else []
    status = main(
        [
            "--upstream", "127.0.0.1:18081", "--upstream", "127.0.0.1:18082",
            "--listen", "127.0.0.1:18080", "--prefix", str(tmp_path), *user, "--out", str(conf),
        ]
    )  # fmt: skip

    assert status == 0
    check = nginx_t(conf, tmp_path)
    assert check.returncode == 0, check.stderr
    text = conf.read_text()
    assert "server 127.0.0.1:18081 " in text
    assert "server 127.0.0.1:18082 " in text
    assert f"pid {tmp_path}/nginx.pid;" in text
    assert "${" not in text


def test_the_container_rendering_passes_nginx_t(tmp_path: Path) -> None:
    # Compose renders with service names, which do not resolve here; the rest is identical.
    text = render(TEMPLATE, values(load_settings(env={}), ["127.0.0.1:8080"], "127.0.0.1:18090"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)

    check = nginx_t(conf, tmp_path)

    assert check.returncode == 0, check.stderr
    assert "error_log /dev/stderr warn;" in text
    assert "access_log /dev/stdout gomicroim;" in text


def test_limits_follow_the_servers_settings() -> None:
    settings = load_settings(
        env={
            "GOMICROIM__SERVER__MAX_REQUEST_BYTES": "2097152",
            "GOMICROIM__GATEWAY__IDLE_TIMEOUT_S": "400",
        }
    )
    text = render(TEMPLATE, values(settings, ["im1:8080"], "80"))
    body = int(re.search(r"client_max_body_size (\d+);", text).group(1))  # type: ignore[union-attr]
    ws = text.split("location = /ws", 1)[1]
    timeouts = re.findall(r"proxy_(?:read|send)_timeout (\d+)s;", ws)

    # Above the server's limit: the server itself answers 413 in its JSON shape.
    assert 2097152 < body <= 2097152 + 65536
    # Longer than the idle timeout: the server, not nginx, closes idle sockets.
    assert timeouts == ["800", "800"]


def test_websockets_are_upgraded_and_the_token_never_reaches_the_access_log() -> None:
    text = render(TEMPLATE, values(load_settings(env={}), ["im1:8080"], "80"))
    ws = text.split("location = /ws", 1)[1]
    log_format = text.split("log_format gomicroim", 1)[1].split(";", 1)[0]

    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade           $http_upgrade;" in ws
    assert "proxy_set_header Connection        $connection_upgrade;" in ws
    assert "X-Forwarded-For   $proxy_add_x_forwarded_for" in ws
    assert "X-Real-IP         $remote_addr" in ws
    # $request, $request_uri and $args would all carry /ws?token=...
    assert "$uri" in log_format
    assert not re.search(r"\$(request|request_uri|args|query_string)\b", log_format)


@pytest.mark.parametrize(
    ("upstreams", "listen", "message"),
    [
        ([], "80", "at least one replica"),
        (["im1"], "80", "is not host:port"),
        (["im1:8080; evil"], "80", "is not host:port"),
        (["im1:8080"], "80; include /etc/passwd", "is not a port"),
    ],
)
def test_bad_arguments_are_refused_naming_them(
    upstreams: list[str], listen: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        values(load_settings(env={}), upstreams, listen)


def test_a_template_of_another_version_is_refused() -> None:
    filled = values(load_settings(env={}), ["im1:8080"], "80")

    with pytest.raises(ConfigError, match=r"no value for \['NEW_THING'\]"):
        render(TEMPLATE + "# ${NEW_THING}\n", filled)
    with pytest.raises(ConfigError, match=r"no place for \['LISTEN'\]"):
        render(TEMPLATE.replace("listen ${LISTEN};", "listen 80;"), filled)


def test_the_cli_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--upstream", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "gomicroim nginx: --upstream 'nope' is not host:port" in err
