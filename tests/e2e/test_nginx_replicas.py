"""``docker/nginx.conf``, rendered by ``gomicroim.infra.nginx``, in front of a real server.

The upstream list holds a live server and an address where nothing listens (a replica that
died): every request and WebSocket still gets through, upgrades work, the token stays out of
the access log and oversized bodies get the server's own 413. No Docker here: this is the
same file compose and the loopback cluster render, run by the machine's nginx.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from gomicroim.infra.nginx import main as render_nginx
from tests.e2e.client import PASSWORD, unique_name
from tests.e2e.server import ServerProcess
from tests.e2e.test_nginx_tls import _wait_listening as wait_listening
from tests.e2e.test_nginx_tls import free_port

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@dataclass(frozen=True)
class Proxy:
    url: str
    ws_url: str
    access_log: Path


@pytest.fixture(scope="module")
def proxy(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("nginx")
    port, dead = free_port(), free_port()
    conf = directory / "nginx.conf"
    user = ["--user", "root"] if os.geteuid() == 0 else []
    status = render_nginx(
        [
            "--upstream", f"127.0.0.1:{dead}", "--upstream", f"127.0.0.1:{server.port}",
            "--listen", f"127.0.0.1:{port}", "--prefix", str(directory), *user,
            "--out", str(conf),
        ]
    )  # fmt: skip
    assert status == 0
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, process, directory)
        yield Proxy(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", directory / "access.log"
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def login(http: httpx.AsyncClient, prefix: str) -> dict[str, object]:
    name = unique_name(prefix)
    registered = await http.post(
        "/api/v1/auth/register", json={"username": name, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    answer = await http.post(
        "/api/v1/auth/login",
        json={"username": name, "password": PASSWORD, "device_id": "d1", "client_type": "web"},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_requests_get_through_while_one_replica_is_down(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as http:
        answers = [await http.get("/readyz") for _ in range(10)]

    assert [a.status_code for a in answers] == [200] * 10


async def test_http_and_websocket_through_the_rendered_config(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.url, timeout=30) as http:
        alice, bob = await login(http, "ngx"), await login(http, "ngx")
        async with connect(f"{proxy.ws_url}?token={bob['access_token']}", close_timeout=1) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (hello["type"], hello["user_id"]) == ("hello", bob["user_id"])
            sent = await http.post(
                "/api/v1/messages",
                json={
                    "to": bob["user_id"],
                    "session_type": "single",
                    "client_msg_id": "through-nginx",
                    "msg_type": "text",
                    "body": "via the replicas' proxy",
                },
                headers={"Authorization": f"Bearer {alice['access_token']}"},
            )
            assert sent.status_code == 201, sent.text
            push = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (push["type"], push["message"]["body"]) == ("message", "via the replicas' proxy")

    await asyncio.sleep(0.2)  # nginx writes a WebSocket's log line when it closes
    log = await asyncio.to_thread(proxy.access_log.read_text)
    assert '"GET /ws HTTP/1.1" 101' in log, log
    assert str(bob["access_token"]) not in log


async def test_an_oversized_body_gets_the_servers_own_413(proxy: Proxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.url, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/register",
            json={"username": unique_name("big"), "password": "x" * 1_050_000},
        )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
