"""What the server records about real traffic: statuses as sent, operator metrics, no tokens.

One server per test module with the access log on and a tight rate limit, so 401 and 429 are
easy to provoke; every assertion reads the server's own log or ``/metrics`` from outside.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.client import Api, bearer
from tests.e2e.conftest import _launch
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess
from tests.e2e.test_ops import metrics_text, samples

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = _launch(
        tmp_path_factory.mktemp("recording"),
        {
            "GOMICROIM__LOG__ACCESS_LOG": "true",
            "GOMICROIM__LIMITS__REQUESTS_PER_SECOND": "2",
            "GOMICROIM__LIMITS__BURST": "20",
        },
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def log_records(server: ServerProcess) -> list[dict[str, object]]:
    assert server._log_path is not None
    out = []
    for line in Path(server._log_path).read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def requests_by(text: str, route: str, method: str = "GET") -> dict[str, float]:
    return {
        dict(labels)["status"]: value
        for labels, value in samples(text, "gomicroim_http_requests_total").items()
        if dict(labels)["route"] == route and dict(labels)["method"] == method
    }


async def test_401_and_429_are_recorded_as_sent_in_metrics_and_access_log(
    server: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(server)
    alice = await api.register_and_login("alice")
    before = requests_by(await metrics_text(api.client), "/api/v1/users/me")

    unauthenticated = await api.client.get("/api/v1/users/me")
    burst = await asyncio.gather(
        *(api.client.get("/api/v1/users/me", headers=alice.headers) for _ in range(40))
    )
    statuses = [unauthenticated.status_code] + [r.status_code for r in burst]
    assert unauthenticated.status_code == 401
    assert 429 in statuses

    after = requests_by(await metrics_text(api.client), "/api/v1/users/me")
    sent = {str(s): statuses.count(s) for s in set(statuses)}
    assert {s: after.get(s, 0) - before.get(s, 0) for s in sent} == sent
    assert after.get("500", 0) == before.get("500", 0), "no request was answered 500"

    logged = [
        r["status"]
        for r in log_records(server)
        if r.get("logger") == "gomicroim.access" and r.get("path") == "/api/v1/users/me"
    ]
    assert sorted(logged[-len(statuses) :]) == sorted(statuses)
    limited = [
        r
        for r in log_records(server)
        if r.get("logger") == "gomicroim.access" and r.get("status") == 429
    ]
    assert limited
    assert all(r["user_id"] == alice.id for r in limited[-3:])


async def test_routing_errors_are_recorded_too(
    server: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(server)
    before = requests_by(await metrics_text(api.client), "unmatched")
    assert (await api.client.get("/no/such/path")).status_code == 404
    after = requests_by(await metrics_text(api.client), "unmatched")
    assert after.get("404", 0) - before.get("404", 0) == 1


async def test_tokens_in_query_strings_never_reach_the_log(
    server: ServerProcess, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    api = connect(server)
    alice = await api.register_and_login("alice")
    await devices.open(server, alice)  # /ws?token=<access token>
    refresh = alice.refresh_token
    await api.client.get(f"/api/v1/sync?access_token={alice.access_token}&refresh_token={refresh}")
    await api.client.get(f"/api/v1/users/me?token={alice.access_token}", headers=alice.headers)
    await asyncio.sleep(0.3)  # let the server write its log lines

    text = server.log_tail(lines=1_000_000)  # raw lines: tracebacks too
    assert '"WebSocket /ws?token=[redacted]' in text, "uvicorn's WebSocket line is still logged"
    for secret in (alice.access_token, refresh):
        assert secret not in text
        # Nor any part long enough to be a usable signature.
        assert secret.rsplit(".", 1)[-1] not in text


async def test_metrics_an_operator_needs_after_real_traffic(
    server: ServerProcess, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    api = connect(server)
    alice = await api.register_and_login("alice", client_type="app")
    bob = await api.register_and_login("bob", client_type="web")
    before = await metrics_text(api.client)
    pushes_before = sum(samples(before, "gomicroim_pushes_delivered_total").values())
    lag_before = samples(before, "gomicroim_fanout_lag_seconds_count")

    bob_device = await devices.open(server, bob)
    await devices.open(server, alice)
    during = await metrics_text(api.client)
    assert samples(during, "gomicroim_websocket_connections")[frozenset()] >= 2

    for n in range(3):
        await api.send(alice, bob.id, f"m{n}")
    await bob_device.wait_frames("message", 3)

    after = await metrics_text(api.client)
    assert sum(samples(after, "gomicroim_pushes_delivered_total").values()) - pushes_before >= 3
    lag = samples(after, "gomicroim_fanout_lag_seconds_count")[frozenset()]
    assert lag - lag_before.get(frozenset(), 0) == 3
    assert samples(after, "gomicroim_outbox_backlog")[frozenset()] >= 0
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert samples(after, name)[frozenset()] > 0, name

    await devices.close_all()
    for _ in range(50):
        closed = await metrics_text(api.client)
        if samples(closed, "gomicroim_websocket_connections")[frozenset()] == 0:
            break
        await asyncio.sleep(0.1)
    assert samples(closed, "gomicroim_websocket_connections")[frozenset()] == 0


@pytest.mark.parametrize(
    ("method", "path", "auth"),
    [
        ("POST", "/api/v1/auth/login", False),
        ("GET", "/api/v1/users/me", True),
        ("GET", "/api/v1/users/me", False),
        ("GET", "/no/such/path", False),
        ("GET", "/healthz", False),
    ],
)
async def test_security_headers_on_every_answer(
    server: ServerProcess,
    connect: Callable[[ServerProcess], Api],
    method: str,
    path: str,
    auth: bool,
) -> None:
    api = connect(server)
    headers = {}
    if auth:
        headers = (await api.register_and_login("hdr")).headers
    response = await api.client.request(
        method, path, headers=headers, json={} if method == "POST" else None
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


async def test_tokens_are_answered_with_no_store(
    server: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(server)
    user = await api.register_and_login("store")
    refreshed = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert refreshed.status_code == 200
    assert refreshed.headers["Cache-Control"] == "no-store"
    profile = await api.client.get(
        "/api/v1/users/me", headers=bearer(refreshed.json()["access_token"])
    )
    assert profile.headers["Cache-Control"] == "no-store"
