"""Every abuse limit on a real server: 429 with ``Retry-After``; the refused request did nothing.

Nothing means no message stored, no account created, no session opened, no token rotated.

Test clients all connect from 127.0.0.1, which ``server.forwarded_allow_ips`` trusts by
default, so ``X-Forwarded-For`` plays the part of distinct client addresses, as behind nginx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.client import PASSWORD, Api, User, assert_error, conversation_id, unique_name
from tests.e2e.conftest import StartServer
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

Connect = Callable[[ServerProcess], Api]


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def assert_rate_limited(response: httpx.Response, limit: str) -> int:
    """The 429 shape naming ``limit``; returns its Retry-After."""
    error = assert_error(response, 429, "rate_limited")
    assert limit in error["message"], error
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


async def login(
    api: Api, username: str, password: str = PASSWORD, ip: str = "192.0.2.1", device: str = "d1"
) -> httpx.Response:
    return await api.client.post(
        "/api/v1/auth/login",
        json={
            "username": username,
            "password": password,
            "device_id": device,
            "client_type": "app",
        },
        headers=from_ip(ip),
    )


async def test_the_per_user_request_rate_refuses_and_the_refused_request_does_nothing(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(
        start_server(GOMICROIM__LIMITS__REQUESTS_PER_SECOND="1", GOMICROIM__LIMITS__BURST="3")
    )
    alice = await api.register_and_login("alice")
    for _ in range(3):
        assert (await api.client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200

    refused = await api.client.post(
        "/api/v1/groups", json={"name": "never", "member_ids": []}, headers=alice.headers
    )

    retry_after = assert_rate_limited(refused, "limits.requests_per_second")
    await asyncio.sleep(retry_after)
    groups = await api.client.get("/api/v1/groups", headers=alice.headers)
    assert groups.status_code == 200, groups.text
    assert groups.json()["groups"] == []


async def test_the_per_user_send_rate_refuses_and_stores_nothing(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(
        start_server(
            GOMICROIM__LIMITS__MESSAGES_PER_SECOND="1", GOMICROIM__LIMITS__MESSAGE_BURST="2"
        )
    )
    alice, bob = await api.register_and_login("alice"), await api.register_and_login("bob")
    for n in range(2):
        await api.send(alice, bob.id, f"m{n}")

    refused = await api.send_raw(alice, bob.id, "limited", client_msg_id="limited-1")
    # Other requests of the same user are not sends: the send limit does not touch them.
    assert (await api.client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200

    retry_after = assert_rate_limited(refused, "limits.messages_per_second")
    stored = await api.history(bob, conversation_id(alice.id, bob.id))
    assert [m["body"] for m in stored] == ["m0", "m1"]
    await asyncio.sleep(retry_after)
    again = await api.send_raw(alice, bob.id, "limited", client_msg_id="limited-1")
    assert again.status_code == 201, again.text  # 201, not 200: it was never stored before


@pytest.fixture
async def guarded(start_server: StartServer, connect: Connect) -> tuple[Api, str]:
    """A server with tight login limits (2 per address and name, 5 per name), and a user."""
    api = connect(
        start_server(
            GOMICROIM__LIMITS__LOGIN_FAILURES_PER_IP_USER="2",
            GOMICROIM__LIMITS__LOGIN_FAILURES_PER_USER="5",
        )
    )
    victim = unique_name("victim")
    await api.register(victim)
    return api, victim


async def test_guessing_one_password_from_one_address_locks_out_only_that_address(
    guarded: tuple[Api, str],
) -> None:
    api, victim = guarded
    session = await login(api, victim, ip="198.51.100.7", device="phone")
    assert session.status_code == 200
    victim_token = session.json()["access_token"]

    for _ in range(2):
        assert_error(await login(api, victim, "wrong password 1", ip="203.0.113.9"), 401)
    # Locked for that address and name, even with the right password: no session is opened,
    # so the victim's own session on that device is not replaced.
    locked = await login(api, victim, ip="203.0.113.9", device="phone")

    assert_rate_limited(locked, "limits.login_failures_per_ip_user")
    me = await api.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {victim_token}"}
    )
    assert me.status_code == 200, me.text
    # The victim, from their own address, logs in as usual; the attacker's address may still
    # log into other accounts.
    assert (await login(api, victim, ip="198.51.100.7", device="laptop")).status_code == 200
    other = unique_name("other")
    await api.register(other)
    assert (await login(api, other, ip="203.0.113.9")).status_code == 200


async def test_guessing_spread_over_addresses_hits_the_per_username_ceiling(
    guarded: tuple[Api, str],
) -> None:
    api, victim = guarded

    for attacker in range(3):
        for _ in range(2):
            await login(api, victim, "wrong password 1", ip=f"203.0.113.{attacker + 10}")
    refused = await login(api, victim, ip="198.51.100.7")

    assert_rate_limited(refused, "limits.login_failures_per_user")
    other = unique_name("other")
    await api.register(other)
    assert (await login(api, other, ip="198.51.100.7")).status_code == 200


async def test_login_attempts_per_address_are_capped(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(start_server(GOMICROIM__LIMITS__LOGIN_ATTEMPTS_PER_IP="3"))
    names = [unique_name("u") for _ in range(4)]
    for name in names:
        await api.register(name)
    for name in names[:3]:
        assert (await login(api, name, ip="203.0.113.50")).status_code == 200

    refused = await login(api, names[3], ip="203.0.113.50")

    assert_rate_limited(refused, "limits.login_attempts_per_ip")
    assert (await login(api, names[3], ip="203.0.113.51")).status_code == 200


async def test_registrations_per_address_are_capped_and_the_refused_one_creates_nothing(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(start_server(GOMICROIM__LIMITS__REGISTRATIONS_PER_IP="2"))

    async def register(name: str, ip: str) -> httpx.Response:
        return await api.client.post(
            "/api/v1/auth/register",
            json={"username": name, "password": PASSWORD},
            headers=from_ip(ip),
        )

    for _ in range(2):
        assert (await register(unique_name("bot"), "203.0.113.77")).status_code == 201
    name = unique_name("bot")
    refused = await register(name, "203.0.113.77")

    assert_rate_limited(refused, "limits.registrations_per_ip")
    # The name is still free: registering it from elsewhere creates it now.
    assert (await register(name, "198.51.100.8")).status_code == 201


async def test_refreshes_per_address_are_capped_and_the_refused_one_rotates_nothing(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(start_server(GOMICROIM__LIMITS__REFRESHES_PER_IP="2"))
    user: User = await api.register_and_login("alice")

    async def refresh(token: str, ip: str) -> httpx.Response:
        return await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": token}, headers=from_ip(ip)
        )

    token = user.refresh_token
    for _ in range(2):
        response = await refresh(token, "203.0.113.5")
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]
    refused = await refresh(token, "203.0.113.5")

    assert_rate_limited(refused, "limits.refreshes_per_ip")
    # The refused refresh did not use the token up: it rotates once, from another address.
    assert (await refresh(token, "198.51.100.9")).status_code == 200


async def test_forwarded_addresses_count_only_from_trusted_proxies(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(
        start_server(
            GOMICROIM__LIMITS__REGISTRATIONS_PER_IP="1",
            GOMICROIM__SERVER__FORWARDED_ALLOW_IPS="10.255.255.1",
        )
    )

    async def register(ip: str) -> httpx.Response:
        return await api.client.post(
            "/api/v1/auth/register",
            json={"username": unique_name("x"), "password": PASSWORD},
            headers=from_ip(ip),
        )

    assert (await register("203.0.113.1")).status_code == 201
    # 127.0.0.1 is no trusted proxy now: a made-up X-Forwarded-For does not make a new client.
    assert_rate_limited(await register("203.0.113.2"), "limits.registrations_per_ip")


def responses_of(schema: dict[str, Any], path: str, method: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


async def test_the_openapi_documents_429_on_every_limited_route(
    start_server: StartServer, connect: Connect
) -> None:
    api = connect(start_server())
    schema = (await api.client.get("/schema/openapi.json")).json()

    for path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh"):
        assert {"429", "503"} <= responses_of(schema, path, "post"), path
    assert "429" in responses_of(schema, "/api/v1/messages", "post")


async def test_queue_gauges_are_exported(start_server: StartServer, connect: Connect) -> None:
    api = connect(start_server())
    text = (await api.client.get("/metrics")).text

    for gauge in (
        "gomicroim_password_hashes_pending",
        "gomicroim_send_queue_depth",
        'gomicroim_bus_queued_batches{topic="committed"}',
        'gomicroim_bus_queued_batches{topic="read"}',
    ):
        assert gauge in text, gauge
