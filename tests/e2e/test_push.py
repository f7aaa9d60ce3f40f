"""Real-time push over ``/ws`` and the pull paths behind it, as app and web clients see them.

App users (a registered app device) get write fan-out: pushes carry a ``user_seq`` and
``/sync`` holds their timeline. Web-only users get read fan-out: pushes without ``user_seq``,
no timeline, history by conversation.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from tests.e2e.client import Api, Json, User, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.devices import (
    Device,
    Devices,
    Key,
    assert_in_seq_order,
    assert_user_seqs_contiguous,
    create_group_settled,
    history_after,
    key,
    opened_devices,
    sync_all,
    sync_until,
)
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

#: Pushes must reach an online device this fast (from the start of the HTTP send).
PUSH_DEADLINE_S = 1.0


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def assert_hello(device: Device, latest_user_seq: int) -> None:
    """The device's ``hello`` names it and carries the user's latest timeline seq."""
    hello = device.hello
    assert set(hello) == {"type", "user_id", "device_id", "node_id", "latest_user_seq"}, hello
    assert hello["user_id"] == device.user.id
    assert hello["device_id"] == device.user.device_id
    assert isinstance(hello["node_id"], str)
    assert hello["node_id"]
    assert hello["latest_user_seq"] == latest_user_seq, hello


async def settle(*devices: Device) -> None:
    """Ping every device: afterwards each has received everything queued for it."""
    await asyncio.gather(*(d.ping() for d in devices))


async def test_single_and_group_messages_reach_every_device_once_in_order(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="app", device_id="amy-phone")
    amy_web = await api.login(amy.username, device_id="amy-web", client_type="web")
    wes = await api.register_and_login("wes", client_type="web", device_id="wes-tab-1")
    wes_tab = await api.login(wes.username, device_id="wes-tab-2", client_type="web")
    sam = await api.register_and_login("sam", client_type="web", device_id="sam-desk")
    sam_laptop = await api.login(sam.username, device_id="sam-laptop", client_type="web")
    group = await create_group_settled(api, server, sam, "trio", [amy, wes])
    members = {
        conversation_id(sam.id, amy.id): {sam.id, amy.id},
        conversation_id(sam.id, wes.id): {sam.id, wes.id},
        conversation_id(amy.id, wes.id): {amy.id, wes.id},
        f"g:{group['id']}": {sam.id, amy.id, wes.id},
    }
    logins = [amy, amy_web, wes, wes_tab, sam, sam_laptop]
    online = {(u.id, u.device_id): await devices.open(server, u) for u in logins}
    for device in online.values():
        # Amy's timeline (an app's) holds the group's group_created system message.
        assert_hello(device, 1 if device.user.id == amy.id else 0)

    # Three users send at once, each from one of their connected devices, into two single chats
    # and the group: the group's seqs interleave senders.
    sent: dict[Key, Json] = {}
    started: dict[Key, float] = {}
    sent_from: dict[Key, tuple[int, str]] = {}

    async def chat(sender: User, peers: list[User]) -> None:
        for n in range(8):
            for to, session in [(p.id, "single") for p in peers] + [(group["id"], "group")]:
                t0 = time.monotonic()
                message = await api.send(
                    sender, to, f"{sender.username} #{n}", session_type=session
                )
                sent[key(message)] = message
                started[key(message)] = t0
                sent_from[key(message)] = (sender.id, sender.device_id)

    await asyncio.gather(chat(sam, [amy, wes]), chat(amy, [sam, wes]), chat(wes, [sam, amy]))
    assert len(sent) == 72

    expected: dict[tuple[int, str], set[Key]] = {device_key: set() for device_key in online}
    for k in sent:
        for user_id, device_id in online:
            if user_id in members[k[0]] and (user_id, device_id) != sent_from[k]:
                expected[(user_id, device_id)].add(k)
    for device_key, device in online.items():
        await device.wait_frames("message", len(expected[device_key]))
    await settle(*online.values())

    for device_key, device in online.items():
        assert [r.type for r in device.received if r.type != "pong"] == ["hello"] + ["message"] * (
            len(expected[device_key])
        ), device.name
        keys = device.message_keys()
        assert Counter(keys).most_common(1)[0][1] == 1, f"{device.name} got a message twice"
        assert set(keys) == expected[device_key], device.name
        assert_in_seq_order(keys)
        for received in device.of_type("message"):
            frame = received.frame
            k = key(frame["message"])
            assert frame["message"] == sent[k]
            if device.user.id == amy.id:
                assert set(frame) == {"type", "message", "user_seq"}, frame
                assert isinstance(frame["user_seq"], int)
            else:
                assert set(frame) == {"type", "message"}, frame
            late = received.at - started[k]
            assert late < PUSH_DEADLINE_S, f"{device.name} got {k} after {late:.3f} s"

    # The app user's timeline: every message of her conversations, user seq 1..n, and the
    # pushes carried exactly those user seqs, in timeline order.
    amys = {k for k in sent if amy.id in members[k[0]]}
    entries, latest = await sync_all(api, amy, limit=7)
    assert_user_seqs_contiguous(entries)
    # First the group's group_created system message (stored before her devices connected).
    created = entries.pop(0)
    assert (created["message"]["msg_type"], created["message"]["seq"]) == ("system", 1)
    assert latest == len(entries) + 1 == len(amys) + 1
    assert all(set(e) == {"user_seq", "message", "kind"} for e in entries), entries[0]
    assert {e["kind"] for e in entries} == {"message"}
    timeline = {key(e["message"]): e for e in entries}
    assert set(timeline) == amys
    assert all(e["message"] == sent[k] for k, e in timeline.items())
    assert_in_seq_order(key(e["message"]) for e in entries)
    for device in (online[(amy.id, "amy-phone")], online[(amy.id, "amy-web")]):
        pushed = [(key(f["message"]), f["user_seq"]) for f in device.messages()]
        assert all(timeline[k]["user_seq"] == user_seq for k, user_seq in pushed), device.name
        user_seqs = [user_seq for _, user_seq in pushed]
        assert user_seqs == sorted(set(user_seqs)), device.name

    # Web-only users have no timeline.
    for web_user in (wes, sam):
        assert await sync_all(api, web_user) == ([], 0)

    # A device connecting now is told where the timeline stands.
    amy_tablet = await api.login(amy.username, device_id="amy-tablet", client_type="app")
    assert_hello(await devices.open(server, amy_tablet), latest)
    assert_hello(await devices.open(server, wes), 0)


async def test_groups_above_write_max_group_size_are_pushed_but_get_no_timeline(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    server = start_server(GOMICROIM__FANOUT__WRITE_MAX_GROUP_SIZE="3")
    api = connect(server)
    owner, *others = users = [
        await api.register_and_login(f"big{n}", client_type="app") for n in range(4)
    ]
    big = await create_group_settled(api, server, owner, "four", others)
    small = await create_group_settled(api, server, owner, "three", others[:2])
    # The small group's group_created system message is its members' only timeline entry.
    [created] = await api.history(owner, f"g:{small['id']}")
    owner_web = await api.login(owner.username, device_id="browser", client_type="web")
    online = [await devices.open(server, u) for u in [*users, owner_web]]

    sent = await asyncio.gather(
        *(api.send_group(u, big["id"], f"{u.username} {n}") for u in users for n in range(2))
    )

    def expected(device: Device) -> set[Key]:
        # Each user sent from "phone-1": that device alone does not get its own messages.
        return {
            key(m)
            for m in sent
            if m["sender_id"] != device.user.id or device.user.device_id != "phone-1"
        }

    for device in online:
        await device.wait_frames("message", len(expected(device)))
    await settle(*online)
    for device in online:
        frames = device.messages()
        assert all(set(f) == {"type", "message"} for f in frames), frames[:1]
        keys = device.message_keys()
        assert sorted(keys) == sorted(expected(device)), device.name
        assert_in_seq_order(keys)
    for user in users:
        entries, latest = await sync_all(api, user)
        assert [e["message"] for e in entries] == ([created] if user != others[2] else [])
        assert latest == len(entries)
    p2 = await api.login(owner.username, device_id="p2")
    assert_hello(await devices.open(server, p2), 1)

    # At the limit (three members) the group is written to timelines again, as is a single chat.
    in_small = await api.send_group(owner, small["id"], "small")
    in_single = await api.send(owner, others[2].id, "single")
    for user, expected_keys in [
        (owner, [key(created), key(in_small), key(in_single)]),
        (others[0], [key(created), key(in_small)]),
        (others[1], [key(created), key(in_small)]),
        (others[2], [key(in_single)]),
    ]:
        entries, latest = await sync_until(api, user, len(expected_keys))
        assert [key(e["message"]) for e in entries] == expected_keys
        assert_user_seqs_contiguous(entries)
        assert latest == len(expected_keys)
    pushed = online[1]
    await pushed.wait_until(lambda: key(in_small) in pushed.message_keys(), "small-group push")
    assert pushed.messages()[-1] == {"type": "message", "message": in_small, "user_seq": 2}


async def test_sender_other_devices_get_own_messages_but_the_sending_device_does_not(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    desk = await api.register_and_login("sam", client_type="web", device_id="desk")
    phone = await api.login(desk.username, device_id="phone", client_type="app")
    bob = await api.register_and_login("bob", client_type="web", device_id="tab")
    group = await create_group_settled(api, server, desk, "pair+", [bob])
    # Sam's timeline starts with the group's group_created system message (user seq 1).
    [created] = await api.history(desk, f"g:{group['id']}")
    on_desk, on_phone, on_bob = [await devices.open(server, u) for u in (desk, phone, bob)]

    from_desk = [
        await api.send(desk, bob.id, "from desk"),
        await api.send_group(desk, group["id"], "desk to group"),
    ]
    from_phone = await api.send(phone, bob.id, "from phone")
    await on_phone.wait_frames("message", 2)
    await on_desk.wait_frames("message", 1)
    await on_bob.wait_frames("message", 3)
    await settle(on_desk, on_phone, on_bob)

    # Sam has an app device, so every device of his carries his timeline's user seq.
    assert on_phone.messages() == [
        {"type": "message", "message": from_desk[0], "user_seq": 2},
        {"type": "message", "message": from_desk[1], "user_seq": 3},
    ]
    assert on_desk.messages() == [{"type": "message", "message": from_phone, "user_seq": 4}]
    assert on_bob.messages() == [
        {"type": "message", "message": m} for m in [*from_desk, from_phone]
    ]
    entries, latest = await sync_all(api, phone)
    assert [e["message"] for e in entries] == [created, *from_desk, from_phone]
    assert latest == 4


async def test_read_events_reach_the_readers_other_devices_and_the_single_chat_peer(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="app", device_id="phone")
    amy_web = await api.login(amy.username, device_id="web", client_type="web")
    bob = await api.register_and_login("bob", client_type="web", device_id="tab")
    carol = await api.register_and_login("carol", client_type="web", device_id="tab")
    single = conversation_id(amy.id, bob.id)
    group = await api.create_group(carol, "readers", [amy, bob])
    in_group = f"g:{group['id']}"
    for n in range(3):
        await api.send(bob, amy.id, f"to amy {n}")
    for n in range(2):
        await api.send_group(carol, group["id"], f"to all {n}")
    on_phone, on_web, on_bob, on_carol = everyone = [
        await devices.open(server, u) for u in (amy, amy_web, bob, carol)
    ]

    def reads(device: Device) -> list[Json]:
        return [r.frame for r in device.of_type("read")]

    def read(conv: str, user: User, seq: int) -> Json:
        return {"type": "read", "conversation_id": conv, "user_id": user.id, "seq": seq}

    # Amy reads the single chat on her phone: her web device and Bob hear of it.
    moved = await api.mark_read(amy, single, 2)
    assert moved["read_seq"] == 2
    await on_web.wait_frames("read", 1)
    await on_bob.wait_frames("read", 1)
    # She reads the group: only her own other device is told.
    await api.mark_read(amy, in_group, 2)
    await on_web.wait_frames("read", 2)
    # Bob reads Amy's reply from his tab: both of Amy's devices are told.
    reply = await api.send(amy_web, bob.id, "reply")
    await api.mark_read(bob, single, reply["seq"])
    await on_phone.wait_frames("read", 1)
    await on_web.wait_frames("read", 3)
    await settle(*everyone)

    assert reads(on_phone) == [read(single, bob, 4)]
    assert reads(on_web) == [read(single, amy, 2), read(in_group, amy, 2), read(single, bob, 4)]
    assert reads(on_bob) == [read(single, amy, 2)]
    assert reads(on_carol) == []


async def test_a_device_that_missed_100_messages_catches_up_by_pulling(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    amy = await api.register_and_login("amy", client_type="app", device_id="phone")
    wes = await api.register_and_login("wes", client_type="web", device_id="tab")
    sam = await api.register_and_login("sam", client_type="web", device_id="desk")
    # Seq 1 (and Amy's user seq 1) is the group_created system message.
    group = await create_group_settled(api, server, sam, "busy", [amy, wes])
    conv = f"g:{group['id']}"
    on_amy, on_wes = await devices.open(server, amy), await devices.open(server, wes)
    for n in range(5):
        await api.send_group(sam, group["id"], f"seen {n}")
    await on_amy.wait_frames("message", 5)
    await on_wes.wait_frames("message", 5)
    held_user_seq = on_amy.messages()[-1]["user_seq"]
    held_seq = on_wes.messages()[-1]["message"]["seq"]
    assert (held_user_seq, held_seq) == (6, 6)
    await on_amy.aclose()
    await on_wes.aclose()

    limit = asyncio.Semaphore(8)

    async def send(n: int) -> Json:
        async with limit:
            return await api.send_group(sam, group["id"], f"missed {n}")

    missed = sorted(await asyncio.gather(*(send(n) for n in range(100))), key=lambda m: m["seq"])
    assert [m["seq"] for m in missed] == list(range(7, 107))

    # Sends are acknowledged at commit; fan-out follows. Reconnect once it has caught up, so
    # every missed message went to the timeline while the devices were away.
    await sync_until(api, amy, held_user_seq + 100)

    # The app pulls its timeline from the last user seq it holds, 30 at a time.
    on_amy = await devices.open(server, amy)
    assert_hello(on_amy, held_user_seq + 100)
    entries, latest = await sync_all(api, amy, after=held_user_seq, limit=30)
    assert_user_seqs_contiguous(entries, start=held_user_seq + 1)
    assert [e["message"] for e in entries] == missed
    assert latest == held_user_seq + 100

    # The web client pulls the conversation after the last seq it holds.
    on_wes = await devices.open(server, wes)
    assert_hello(on_wes, 0)
    entry = await api.conversation(wes, conv)
    assert entry is not None
    assert entry["last_seq"] == 106
    assert await history_after(api, wes, conv, held_seq, limit=30) == missed

    # Nothing missed is replayed as pushes; new messages are pushed again.
    after = await api.send_group(sam, group["id"], "back")
    await on_amy.wait_frames("message", 1)
    await on_wes.wait_frames("message", 1)
    await settle(on_amy, on_wes)
    assert on_amy.messages() == [{"type": "message", "message": after, "user_seq": 107}]
    assert on_wes.messages() == [{"type": "message", "message": after}]


async def test_push_latency_to_an_online_device(
    server: ServerProcess, api: Api, devices: Devices, capsys: pytest.CaptureFixture[str]
) -> None:
    sam = await api.register_and_login("sam", client_type="web", device_id="desk")
    wes = await api.register_and_login("wes", client_type="web", device_id="tab")
    on_wes = await devices.open(server, wes)
    latencies = []
    for n in range(200):
        started = time.monotonic()
        message = await api.send(sam, wes.id, f"latency {n}")
        await on_wes.wait_frames("message", n + 1)
        received = on_wes.of_type("message")[-1]
        assert received.frame["message"] == message
        latencies.append(received.at - started)
    median = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    with capsys.disabled():
        print(
            f"\npush latency, HTTP send start -> frame received, {len(latencies)} messages:"
            f" median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
            f" max {max(latencies) * 1000:.1f} ms"
        )
    assert p99 < PUSH_DEADLINE_S
