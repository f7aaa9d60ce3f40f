"""The README's TLS setup, tested: ``docker/nginx-tls.example.conf`` in front of a real server.

The test takes the example file as shipped, changes only what differs on a test machine
(ports, certificate paths, log path; each must appear exactly once), and drives HTTPS and WSS
through a real nginx with a self-signed certificate made by ``openssl``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.e2e.client import PASSWORD, unique_name
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "docker" / "nginx-tls.example.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
IDLE_TIMEOUT_S = 120  # gateway.idle_timeout_s default


@dataclass(frozen=True)
class Proxy:
    https_url: str
    http_url: str
    wss_url: str
    tls: ssl.SSLContext
    access_log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the example no longer has exactly one {old!r}"
    return text.replace(old, new)


def self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("this test needs openssl(1) to make a certificate; install openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def site_config(upstream_port: int, https: int, http: int, cert: Path, key: Path, log: Path) -> str:
    text = EXAMPLE.read_text()
    text = replace_once(text, "server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
    text = replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http};")
    text = replace_once(text, "/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert))
    text = replace_once(text, "/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
    return replace_once(text, "/var/log/nginx/gomicroim.access.log", str(log))


def main_config(directory: Path, site: Path) -> str:
    # What /etc/nginx/nginx.conf provides around conf.d/*.conf, with every path in the test's
    # directory. As root nginx would hand its workers to "nobody", who cannot enter it.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = directory / "temp"
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log notice;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {directory}/default-access.log;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n  include {site};\n}}\n"
    )


@pytest.fixture(scope="module")
def proxy(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("nginx")
    (directory / "temp").mkdir()
    cert, key = self_signed(directory)
    https, http = free_port(), free_port()
    access_log = directory / "gomicroim.access.log"
    site = directory / "gomicroim.conf"
    site.write_text(site_config(server.port, https, http, cert, key, access_log))
    conf = directory / "nginx.conf"
    conf.write_text(main_config(directory, site))
    check = subprocess.run(
        [NGINX, "-t", "-p", str(directory), "-c", str(conf)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tls = ssl.create_default_context(cafile=str(cert))
    try:
        _wait_listening(https, process, directory)
        yield Proxy(
            f"https://127.0.0.1:{https}",
            f"http://127.0.0.1:{http}",
            f"wss://127.0.0.1:{https}/ws",
            tls,
            access_log,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError((directory / "error.log").read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port}")


def test_the_example_keeps_websockets_open_longer_than_the_server_idle_timeout() -> None:
    ws_block = EXAMPLE.read_text().split("location = /ws", 1)[1]
    timeouts = re.findall(r"proxy_(?:read|send)_timeout\s+(\d+)s;", ws_block)
    assert len(timeouts) == 2
    assert all(int(t) > IDLE_TIMEOUT_S for t in timeouts), timeouts


async def test_https_and_wss_through_nginx_carry_the_whole_client_flow(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.https_url, verify=proxy.tls, timeout=30) as http:
        names = [unique_name("tls"), unique_name("tls")]
        tokens = []
        for name in names:
            registered = await http.post(
                "/api/v1/auth/register", json={"username": name, "password": PASSWORD}
            )
            assert registered.status_code == 201, registered.text
            login = await http.post(
                "/api/v1/auth/login",
                json={
                    "username": name,
                    "password": PASSWORD,
                    "device_id": "d1",
                    "client_type": "web",
                },
            )
            assert login.status_code == 200, login.text
            tokens.append(login.json())
        alice, bob = tokens

        async with connect(
            f"{proxy.wss_url}?token={bob['access_token']}", ssl=proxy.tls, close_timeout=1
        ) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (hello["type"], hello["user_id"]) == ("hello", bob["user_id"])
            sent = await http.post(
                "/api/v1/messages",
                json={
                    "to": bob["user_id"],
                    "session_type": "single",
                    "client_msg_id": "over-tls",
                    "msg_type": "text",
                    "body": "through nginx",
                },
                headers={"Authorization": f"Bearer {alice['access_token']}"},
            )
            assert sent.status_code == 201, sent.text
            push = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert push["type"] == "message"
            assert push["message"]["body"] == "through nginx"
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"

    # The access token went through the URL, but the proxy's log keeps only the path.
    await asyncio.sleep(0.2)  # nginx writes its log line when the socket closes
    log = await asyncio.to_thread(proxy.access_log.read_text)
    assert '"GET /ws HTTP/1.1" 101' in log, log
    assert bob["access_token"] not in log


async def test_oversized_bodies_get_the_servers_own_413_through_nginx(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.https_url, verify=proxy.tls, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={"username": unique_name("big"), "password": "x" * 1_100_000},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_plain_http_is_redirected_to_https(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.http_url, timeout=10) as http:
        response = await http.get("/healthz")
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://127.0.0.1")
    assert response.headers["location"].endswith("/healthz")
