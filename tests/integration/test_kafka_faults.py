"""A real server on Kafka while tansu stops and comes back empty: nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.client import Api
from tests.e2e.devices import Devices, opened_devices, sync_all
from tests.e2e.server import ServerProcess
from tests.integration.tansu import Tansu

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SENDS = 60
STOP_AFTER = 15
RESTART_AFTER = 30


def kafka_env(broker: Tansu) -> dict[str, str]:
    """``GOMICROIM__...`` for one all-roles node on ``broker``, with fast group joins."""
    prefix = f"t{secrets.token_hex(4)}."
    return {
        "GOMICROIM__SERVER__NODE_ID": "node-1",
        "GOMICROIM__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "GOMICROIM__KAFKA__TOPIC_PREFIX": prefix,
        "GOMICROIM__KAFKA__CONSUMER_GROUP": f"{prefix}fanout",
        "GOMICROIM__KAFKA__NODE_PARTITIONS__NODE-1": "[0, 1]",
        "GOMICROIM__KAFKA__PUSH_PARTITIONS": "2",
        "GOMICROIM__KAFKA__SESSION_TIMEOUT_MS": "2000",
        "GOMICROIM__KAFKA__HEARTBEAT_INTERVAL_MS": "300",
        "GOMICROIM__KAFKA__REQUEST_TIMEOUT_MS": "2000",
        "GOMICROIM__KAFKA__TOPIC_CHECK_INTERVAL_S": "0.5",
        "GOMICROIM__KAFKA__MAX_RETRY_BACKOFF_S": "1",
    }


@pytest.fixture
def server(own_tansu: Tansu, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", tmp_path, env=kafka_env(own_tansu))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def api(server: ServerProcess) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
        yield Api(client)


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def test_every_acknowledged_send_is_delivered_across_a_broker_restart(
    server: ServerProcess, own_tansu: Tansu, api: Api, devices: Devices
) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    bob_phone = await devices.open(server, bob)
    acknowledged: list[str] = []
    readiness: list[int] = []

    for n in range(1, SENDS + 1):
        if n == STOP_AFTER:
            # A burst the fan-out may not have read yet when the broker goes, with it.
            burst = await asyncio.gather(
                *(api.send(alice, bob.id, body=f"b{i}", client_msg_id=f"b{i}") for i in range(10))
            )
            acknowledged.extend(sent["client_msg_id"] for sent in burst)
            own_tansu.stop()
        if n == RESTART_AFTER:
            readiness.append((await api.client.get("/readyz")).status_code)
            own_tansu.start()
        sent = await api.send(alice, bob.id, body=f"m{n}", client_msg_id=f"c{n}")
        acknowledged.append(sent["client_msg_id"])
        await asyncio.sleep(0.05)

    async def all_synced() -> list[str]:
        entries, _ = await sync_all(api, bob)
        return [e["message"]["client_msg_id"] for e in entries]

    deadline = asyncio.get_running_loop().time() + 60
    synced = await all_synced()
    while set(synced) != set(acknowledged) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.25)
        synced = await all_synced()
    # Pushes resumed: the last message reached the open socket.
    await bob_phone.wait_until(
        lambda: f"c{SENDS}" in {m["message"]["client_msg_id"] for m in bob_phone.messages()},
        "the last message pushed",
        within_s=30,
    )
    pushed = [m["message"]["seq"] for m in bob_phone.messages()]
    metrics = (await api.client.get("/metrics")).text

    assert readiness == [503]
    assert len(acknowledged) == SENDS + 10
    # Every acknowledged send is in bob's timeline exactly once (redelivery made no copies).
    assert sorted(synced) == sorted(acknowledged)
    # Pushes after the restart: never twice, never out of order.
    assert pushed == sorted(set(pushed))
    # The relay's publisher saw the broker had lost its log and produced the events again.
    assert 'gomicroim_bus_resent_total{topic="' in metrics
    assert server.error_lines() == [], server.error_lines()
