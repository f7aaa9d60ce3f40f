"""A loopback cluster from ``scripts/loopback-cluster``: replicas on MariaDB, Redis and tansu.

Users talk to different replicas, directly and through nginx; what one replica stores and
changes, every other one serves and enforces; a replica killed with SIGKILL costs its clients
a reconnect through nginx and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster.conftest import Cluster, Endpoint, start_cluster, stop_cluster
from tests.e2e.client import Api, Json, User, assert_error, conversation_id
from tests.e2e.devices import (
    Device,
    Devices,
    Key,
    assert_in_seq_order,
    create_group_settled,
    key,
    sync_all,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mysql, pytest.mark.timeout(180)]

#: Pushes cross a replica over Kafka: the fan-out worker of any replica, then the gateway's
#: partition. A consumer group rebalance after a replica dies takes a few seconds on tansu.
DELIVERY_S = 20.0


def test_up_prints_one_line_and_every_replica_answers(cluster: Cluster) -> None:
    assert cluster.nginx.base_url.startswith("http://127.0.0.1:")
    assert len(cluster.replicas) == 3
    assert len(set(cluster.node_ids)) == 3
    assert set(cluster.pids) == {"tansu", "nginx", *cluster.node_ids}
    for endpoint in [cluster.nginx, *cluster.replicas]:
        ready = httpx.get(f"{endpoint.base_url}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "kafka": "ok"}


async def _until_all(
    devices: list[Device], expected: Callable[[Device], set[Key]], within_s: float = DELIVERY_S
) -> None:
    await asyncio.gather(
        *(
            d.wait_until(
                lambda d=d: expected(d) <= set(d.message_keys()), "every message", within_s
            )
            for d in devices
        )
    )


async def test_users_on_different_replicas_get_every_message_once_in_order(
    cluster: Cluster, connect: Callable[[Endpoint], Api], devices: Devices
) -> None:
    edge = connect(cluster.nginx)
    apis = [connect(r) for r in cluster.replicas]
    names = ("ann", "ben", "cat")
    # Each user sends from a device of its own that holds no socket (a sending device gets
    # no push of its own message) and reads on two others.
    senders = [await edge.register_and_login(n, device_id="sender") for n in names]
    readers: list[User] = []
    for user in senders:
        readers.append(await edge.login(user.username, device_id="phone", client_type="app"))
        readers.append(await edge.login(user.username, device_id="web", client_type="web"))
    # Settled: the group_created push is over before the devices connect.
    group = await create_group_settled(edge, cluster.nginx, senders[0], "trio", senders[1:])
    # Phones straight on replicas 1-3, web tabs through nginx.
    online = [
        await devices.open(cluster.replicas[i // 2] if i % 2 == 0 else cluster.nginx, u)
        for i, u in enumerate(readers)
    ]
    assert {d.hello["node_id"] for d in online[::2]} == set(cluster.node_ids)

    members = {f"g:{group['id']}": {u.id for u in senders}}
    for i, a in enumerate(senders):
        for b in senders[i + 1 :]:
            members[conversation_id(a.id, b.id)] = {a.id, b.id}

    async def chat(n: int, sender: User) -> list[Json]:
        sent = []
        api = apis[n]  # each user sends through a replica of its own
        for round_ in range(5):
            for peer in senders:
                if peer.id != sender.id:
                    sent.append(await api.send(sender, peer.id, f"{sender.username} {round_}"))
            sent.append(await api.send_group(sender, group["id"], f"group {round_}"))
        return sent

    sent = [m for batch in await asyncio.gather(*map(chat, range(3), senders)) for m in batch]
    assert len(sent) == 3 * 5 * 3

    def expected(device: Device) -> set[Key]:
        return {key(m) for m in sent if device.user.id in members[m["conversation_id"]]}

    await _until_all(online, expected)
    await asyncio.gather(*(d.ping() for d in online))
    for device in online:
        keys = device.message_keys()
        assert sorted(keys) == sorted(expected(device)), device.name  # each once, nothing else
        assert_in_seq_order(keys)

    # Every replica serves the same history: seqs 1..n, as stored (1: group_created).
    group_id = f"g:{group['id']}"
    histories = [await api.history(senders[2], group_id) for api in apis]
    assert [[m["seq"] for m in h] for h in histories] == [list(range(1, 17))] * 3


async def test_ten_concurrent_senders_on_every_replica_get_seqs_1_to_n(
    cluster: Cluster, connect: Callable[[Endpoint], Api], devices: Devices
) -> None:
    edge = connect(cluster.nginx)
    entrances = [connect(e) for e in [*cluster.replicas, cluster.nginx]]
    owner = await edge.register_and_login("owner")
    crowd = [await edge.register_and_login(f"s{i}") for i in range(10)]
    group = await create_group_settled(edge, cluster.nginx, owner, "crowd", crowd)
    watcher = await edge.login(owner.username, device_id="watch", client_type="web")
    device = await devices.open(cluster.nginx, watcher)

    async def burst(n: int, sender: User) -> list[int]:
        api = entrances[n % len(entrances)]
        return [(await api.send_group(sender, group["id"], f"{n}.{i}"))["seq"] for i in range(5)]

    seqs = [s for batch in await asyncio.gather(*map(burst, range(10), crowd)) for s in batch]

    # Seq 1 is the group_created system message.
    assert sorted(seqs) == list(range(2, 52))
    history = await edge.history(owner, f"g:{group['id']}")
    assert [m["seq"] for m in history] == list(range(1, 52))
    try:
        await device.wait_until(lambda: len(device.messages()) >= 50, "50 pushes", DELIVERY_S)
    except AssertionError:
        got = [seq for _, seq in device.message_keys()]
        raise AssertionError(
            f"DEBUG missing {sorted(set(range(2, 52)) - set(got))} got {got}"
        ) from None
    assert [seq for _, seq in device.message_keys()] == list(range(2, 52))


async def test_a_member_removed_on_one_replica_can_neither_send_nor_read_on_another(
    cluster: Cluster, connect: Callable[[Endpoint], Api]
) -> None:
    first, second, third = (connect(r) for r in cluster.replicas)
    owner = await first.register_and_login("owner")
    ann = await first.register_and_login("ann")
    group = await first.create_group(owner, "g", [ann])
    gid = group["id"]
    # Both other replicas have seen ann as a member (and cached it).
    await second.send_group(ann, gid, "before removal")
    assert len(await third.history(ann, f"g:{gid}")) == 2  # group_created and the message

    removed = await first.client.delete(
        f"/api/v1/groups/{gid}/members/{ann.id}", headers=owner.headers
    )
    assert removed.status_code == 204

    assert_error(await second.send_raw(ann, gid, session_type="group"), 403, "not_a_member")
    read = await third.client.get(f"/api/v1/conversations/g:{gid}/messages", headers=ann.headers)
    assert_error(read, 403, "not_a_member")
    history = await third.history(owner, f"g:{gid}")
    assert [m["body"] for m in history if m["msg_type"] == "text"] == ["before removal"]


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Two replicas of the test's own: it kills one."""
    started = start_cluster(tmp_path / "cluster", replicas=2)
    try:
        yield started
    finally:
        stop_cluster(started)


async def _send_retrying(api: Api, sender: User, group_id: int, body: str) -> Json:
    """Send as a client does while a replica dies: retry with the same client_msg_id."""
    client_msg_id = uuid.uuid4().hex
    deadline = time.monotonic() + DELIVERY_S
    while True:
        try:
            answer = await api.send_raw(
                sender, group_id, body, session_type="group", client_msg_id=client_msg_id
            )
            if answer.status_code == 201:
                return dict(answer.json())
            assert answer.status_code in {502, 503, 504}, answer.text
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{body} not stored within {DELIVERY_S:g} s"
        await asyncio.sleep(0.2)


async def _reconnect(devices: Devices, cluster: Cluster, user: User) -> Device:
    """Connect through nginx again, as a client's reconnect loop does, until hello."""
    deadline = time.monotonic() + DELIVERY_S
    while True:
        try:
            return await devices.open(cluster.nginx, user)
        except Exception:  # refused, a 502 from nginx, or closed before hello
            assert time.monotonic() < deadline, "no reconnect through nginx"
            await asyncio.sleep(0.3)


async def test_sigkill_of_a_replica_its_clients_reconnect_through_nginx_and_miss_nothing(
    own_cluster: Cluster, connect: Callable[[Endpoint], Api], devices: Devices
) -> None:
    cluster = own_cluster
    edge = connect(cluster.nginx)
    owner = await edge.register_and_login("owner", device_id="sender")
    members = [await edge.register_and_login(f"m{i}", device_id="phone") for i in range(6)]
    group = await create_group_settled(edge, cluster.nginx, owner, "survivors", members)
    online = [await devices.open(cluster.nginx, m) for m in members]
    placed = Counter(d.hello["node_id"] for d in online)
    assert set(placed) == set(cluster.node_ids), placed  # nginx spread the sockets
    before = [await _send_retrying(edge, owner, group["id"], f"before {i}") for i in range(10)]
    await _until_all(online, lambda _: {key(m) for m in before})

    victim = placed.most_common(1)[0][0]
    os.kill(cluster.pids[victim], signal.SIGKILL)
    cut = [d for d in online if d.hello["node_id"] == victim]
    kept = [d for d in online if d.hello["node_id"] != victim]
    await asyncio.gather(*(d.wait_closed() for d in cut))

    during = [await _send_retrying(edge, owner, group["id"], f"during {i}") for i in range(10)]
    everything = before + during
    # Seq 1 (and each member's user seq 1) is the group_created system message.
    assert [m["seq"] for m in everything] == list(range(2, 22))

    # The cut devices come back through nginx (to the surviving replica) and sync from the
    # last user seq they had, as an app does, until the fan-out (which may have moved to the
    # surviving replica too) has written everything.
    wanted = [key(m) for m in everything]
    for device in cut:
        seen = max(f["user_seq"] for f in device.messages())
        again = await _reconnect(devices, cluster, device.user)
        assert again.hello["node_id"] != victim
        deadline = time.monotonic() + DELIVERY_S
        while True:
            entries, latest = await sync_all(edge, device.user, after=seen)
            keys = device.message_keys() + [key(e["message"]) for e in entries]
            if sorted(set(keys)) == wanted or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert sorted(set(keys)) == wanted, device.name
        assert len(keys) == len(wanted), device.name  # the sync repeats nothing pushed
        assert latest == 21
        # Whatever the new socket was pushed is a message the device already had.
        assert set(again.message_keys()) <= set(keys), again.name
    await _until_all(kept, lambda _: set(wanted))
    for device in kept:
        assert device.message_keys() == wanted, device.name
    history = await edge.history(members[0], f"g:{group['id']}")
    assert [m["body"] for m in history[1:]] == [m["body"] for m in everything]
