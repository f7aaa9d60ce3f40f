"""Operations endpoints as monitoring sees them, and the per-user rate limit."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.client import Api, assert_error
from tests.e2e.conftest import StartServer
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$"
)


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Parse one metric family's samples from Prometheus text: labels -> value."""
    out: dict[frozenset[tuple[str, str]], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] != name:
            continue
        labels = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or "")
        out[frozenset(labels)] = float(match["value"])
    return out


def media_type_params(content_type: str) -> tuple[str, list[tuple[str, str]]]:
    """Split a Content-Type like Go's mime.ParseMediaType does (which Prometheus uses)."""
    media_type, *params = (part.strip() for part in content_type.split(";"))
    pairs = []
    for param in params:
        key, _, value = param.partition("=")
        pairs.append((key.strip().lower(), value.strip()))
    return media_type.lower(), pairs


async def metrics_text(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_metrics_count_requests_and_sent_messages(api: Api) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    group = await api.create_group(alice, "g", [bob])
    before = await metrics_text(api.client)
    sent = samples(before, "gomicroim_messages_sent_total")
    single_before = sent.get(frozenset({("session_type", "single")}), 0.0)
    group_before = sent.get(frozenset({("session_type", "group")}), 0.0)
    dedup_before = sum(samples(before, "gomicroim_messages_deduplicated_total").values())

    for n in range(3):
        await api.send(alice, bob.id, f"m{n}", client_msg_id=f"metrics-{n}")
    await api.send_group(bob, group["id"], "g1")
    await api.send_group(alice, group["id"], "g2")
    replay = await api.send_raw(alice, bob.id, "m0", client_msg_id="metrics-0")
    assert replay.status_code == 200
    refused = await api.send_raw(alice, bob.id, "x", msg_type="system")
    assert refused.status_code == 400

    after = await metrics_text(api.client)
    sent = samples(after, "gomicroim_messages_sent_total")
    assert sent[frozenset({("session_type", "single")})] - single_before == 3
    assert sent[frozenset({("session_type", "group")})] - group_before == 2
    assert sum(samples(after, "gomicroim_messages_deduplicated_total").values()) - dedup_before == 1

    requests = samples(after, "gomicroim_http_requests_total")
    by_status = {
        dict(labels)["status"]: value
        for labels, value in requests.items()
        if dict(labels)["route"] == "/api/v1/messages" and dict(labels)["method"] == "POST"
    }
    assert by_status["201"] >= 5
    assert by_status["200"] >= 1
    assert by_status["400"] >= 1
    assert "# TYPE gomicroim_http_request_duration_seconds histogram" in after


async def test_metrics_content_type_is_parseable_by_prometheus(client: httpx.AsyncClient) -> None:
    # Prometheus 3 parses Content-Type with Go's mime.ParseMediaType, which rejects a
    # repeated parameter; without fallback_scrape_protocol the scrape then fails.
    response = await client.get("/metrics")
    media_type, params = media_type_params(response.headers["content-type"])
    assert media_type == "text/plain"
    names = [name for name, _ in params]
    assert len(names) == len(set(names)), f"repeated parameter: {response.headers['content-type']}"
    assert dict(params) == {"version": "0.0.4", "charset": "utf-8"}


async def test_openapi_schema_documents_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    expected = {
        "/api/v1/auth/register": "post",
        "/api/v1/auth/login": "post",
        "/api/v1/auth/refresh": "post",
        "/api/v1/auth/logout": "post",
        "/api/v1/users/me": "get",
        "/api/v1/users/{user_id}": "get",
        "/api/v1/groups": "post",
        "/api/v1/groups/{group_id}": "get",
        "/api/v1/groups/{group_id}/members": "post",
        "/api/v1/groups/{group_id}/members/{user_id}": "delete",
        "/api/v1/messages": "post",
        "/api/v1/conversations": "get",
        "/api/v1/conversations/{conversation_id}/messages": "get",
        "/api/v1/conversations/{conversation_id}/read": "post",
        "/healthz": "get",
        "/readyz": "get",
        "/metrics": "get",
    }
    missing = {p: m for p, m in expected.items() if m not in paths.get(p, {})}
    assert missing == {}


@pytest.fixture
def rate_limited(start_server: StartServer) -> ServerProcess:
    return start_server(GOMICROIM__LIMITS__REQUESTS_PER_SECOND="5", GOMICROIM__LIMITS__BURST="5")


async def test_a_burst_past_the_rate_limit_gets_429_with_retry_after(
    rate_limited: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(rate_limited)
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")

    started = time.monotonic()
    burst = await asyncio.gather(
        *(api.client.get("/api/v1/users/me", headers=alice.headers) for _ in range(20))
    )
    elapsed = time.monotonic() - started
    statuses = [r.status_code for r in burst]
    assert set(statuses) == {200, 429}
    # The bucket holds 5; at 5 per second a few more trickle in while the burst is in flight.
    assert 5 <= statuses.count(200) <= 5 + int(elapsed * 5) + 1, (statuses, elapsed)
    limited = [r for r in burst if r.status_code == 429]
    for response in limited:
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) >= 1

    # The limit is per user: Bob is unaffected by Alice's burst.
    assert (await api.client.get("/api/v1/users/me", headers=bob.headers)).status_code == 200

    # Waiting as told lets the client in again.
    await asyncio.sleep(int(limited[-1].headers["Retry-After"]))
    again = await api.client.get("/api/v1/users/me", headers=alice.headers)
    assert again.status_code == 200
