"""Hostile HTTP from raw sockets: huge or endless heads, slowloris, idle connections.

Each attack costs the server a bounded amount of memory and time, and is refused in the one
error shape. The server runs with short deadlines so the tests stay quick; what they check is
that the configured deadline is the one that holds.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _launch
from tests.e2e.server import ServerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
KEEPALIVE_TIMEOUT_S = 1.0
MAX_HEADER_BYTES = 16384
#: How much later than its deadline a busy 2-core machine may close a connection.
SLACK_S = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = _launch(
        tmp_path_factory.mktemp("hostile"),
        {
            "GOMICROIM__SERVER__HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "GOMICROIM__SERVER__BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
            "GOMICROIM__SERVER__KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_TIMEOUT_S),
        },
    )
    try:
        yield process
    finally:
        process.stop()


def rss_bytes(server: ServerProcess) -> int:
    assert server._proc is not None
    for line in Path(f"/proc/{server._proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_socket(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and when it closed (monotonic)."""
    sock.settimeout(within_s)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data, time.monotonic()


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body), however the server split it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the whole body"
        body += chunk
    return head + b"\r\n\r\n" + body


def parse(response: bytes) -> tuple[int, dict[str, str], object]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


def assert_refused(response: bytes, status: int, code: str) -> None:
    got, headers, body = parse(response)
    assert got == status, response[:300]
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert isinstance(body, dict)
    assert body["error"]["code"] == code


def test_an_oversized_head_is_431_and_closed(server: ServerProcess) -> None:
    sock = open_socket(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEADER_BYTES + 10))
    response, _ = read_until_closed(sock, 5)
    assert_refused(response, 431, "headers_too_large")


def test_too_many_headers_is_431(server: ServerProcess) -> None:
    sock = open_socket(server)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    response, _ = read_until_closed(sock, 5)
    assert_refused(response, 431, "too_many_headers")


def test_heads_and_bodies_within_the_limits_are_served(server: ServerProcess) -> None:
    # A head just under the limit, sent in one write together with a large body.
    padding = b"p" * (MAX_HEADER_BYTES - 300)
    body = json.dumps({"username": "x" * 200_000, "password": "y"}).encode()
    sock = open_socket(server)
    sock.sendall(
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Pad: "
        + padding
        + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        + body
    )
    response, _ = read_until_closed(sock, 10)
    status, _, answer = parse(response)
    assert status == 400, response[:300]  # the body's username is refused, not the head
    assert isinstance(answer, dict)
    assert answer["error"]["field"] == "username"


def test_ten_unfinished_40mb_heads_do_not_grow_memory(server: ServerProcess) -> None:
    before = rss_bytes(server)
    peak = before
    chunk = b"a" * (1 << 20)
    done = threading.Event()

    def attack() -> None:
        sock = open_socket(server)
        sock.settimeout(30)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):
            for _ in range(40):
                sock.sendall(chunk)
        sock.close()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(server))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=attack) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    done.set()
    watcher.join()
    grown = peak - before
    assert grown < 48 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MiB"
    # The server still answers.
    assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200


def test_a_slowloris_head_is_closed_within_the_header_timeout(server: ServerProcess) -> None:
    sock = open_socket(server)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed_at = None
    sock.settimeout(0.25)
    response = b""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        # One header byte every 250 ms: the head never completes.
        while time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S + 5:
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    closed_at = time.monotonic()
                    break
                response += chunk
            except TimeoutError:
                sock.sendall(b"X")
    assert closed_at is not None, "the server kept a slowloris connection open"
    assert HEADER_TIMEOUT_S - 0.5 <= closed_at - started <= HEADER_TIMEOUT_S + SLACK_S
    assert_refused(response, 408, "request_timeout")


def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    sock = open_socket(server)
    started = time.monotonic()
    response, closed_at = read_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S + 5)
    assert closed_at - started <= HEADER_TIMEOUT_S + SLACK_S
    assert_refused(response, 408, "request_timeout")


def test_a_half_sent_body_is_closed_within_the_body_timeout(server: ServerProcess) -> None:
    sock = open_socket(server)
    sock.sendall(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"username":'
    )
    started = time.monotonic()
    response, closed_at = read_until_closed(sock, BODY_TIMEOUT_S + SLACK_S + 5)
    assert closed_at - started <= BODY_TIMEOUT_S + SLACK_S
    assert_refused(response, 408, "request_timeout")


def test_an_idle_keepalive_connection_is_closed(server: ServerProcess) -> None:
    sock = open_socket(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(5)
    assert read_response(sock).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    rest, closed_at = read_until_closed(sock, KEEPALIVE_TIMEOUT_S + SLACK_S + 5)
    assert rest == b""
    assert closed_at - started <= KEEPALIVE_TIMEOUT_S + SLACK_S


def test_keepalive_requests_each_get_a_fresh_head_deadline(server: ServerProcess) -> None:
    # Three requests on one connection, spaced so together they outlast the head deadline.
    sock = open_socket(server)
    sock.settimeout(5)
    for _ in range(3):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(KEEPALIVE_TIMEOUT_S * 0.8)
    sock.close()


def test_a_malformed_request_gets_the_error_shape(server: ServerProcess) -> None:
    sock = open_socket(server)
    sock.sendall(b"GARBAGE\x00\x01 / HTTP/1.1\r\n\r\n")
    response, _ = read_until_closed(sock, 5)
    assert_refused(response, 400, "malformed_request")
