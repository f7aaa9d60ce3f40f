"""The ``/ws`` gateway's edges: tokens, bad frames, replaced, idle and slow connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.client import Api, Json, User, assert_error, bearer
from tests.e2e.conftest import StartServer
from tests.e2e.devices import (
    TCP_ESTABLISHED,
    Device,
    Devices,
    assert_in_seq_order,
    create_group_settled,
    history_after,
    opened_devices,
    tcp_state,
    ws_url,
)
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

MAX_FRAME_BYTES = 65536  # gateway.max_frame_bytes default
#: Slow-consumer server: a small output queue, yet room for a few ~60 KB pushes at once.
MAX_PENDING_BYTES = 300_000
BIG_BODY_CHARS = 60_000


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def first_close(url: str, **kwargs: object) -> tuple[int | None, list[str | bytes]]:
    """Connect, read until the server closes; (close code, data frames received before it)."""
    frames: list[str | bytes] = []
    async with connect(url, close_timeout=1, **kwargs) as ws:  # type: ignore[arg-type]
        try:
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 5))
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), frames


async def test_a_missing_or_bad_token_is_closed_4401_before_any_frame(
    server: ServerProcess, api: Api
) -> None:
    user = await api.register_and_login("ws", client_type="web")
    revoked = await api.login(user.username, device_id="gone", client_type="web")
    logout = await api.client.post("/api/v1/auth/logout", headers=revoked.headers)
    assert logout.status_code == 204
    attempts: list[tuple[str, dict[str, object]]] = [
        (ws_url(server), {}),
        (ws_url(server, ""), {}),
        (ws_url(server, "not-a-token"), {}),
        (ws_url(server, user.access_token + "x"), {}),
        (ws_url(server, user.refresh_token), {}),
        (ws_url(server, revoked.access_token), {}),
        (ws_url(server), {"additional_headers": bearer("not-a-token")}),
        (ws_url(server), {"additional_headers": {"Authorization": user.access_token}}),
    ]
    for url, kwargs in attempts:
        code, frames = await first_close(url, **kwargs)
        assert (code, frames) == (4401, []), (url, kwargs)

    # The same token works in the query string and in the Authorization header.
    working: list[tuple[str, dict[str, object]]] = [
        (ws_url(server, user.access_token), {}),
        (ws_url(server), {"additional_headers": bearer(user.access_token)}),
    ]
    for url, kwargs in working:
        async with connect(url, close_timeout=1, **kwargs) as ws:  # type: ignore[arg-type]
            hello = await asyncio.wait_for(ws.recv(), 5)
            assert f'"user_id":{user.id}' in hello


async def test_an_oversized_frame_closes_1009_and_one_at_the_limit_does_not(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    user = await api.register_and_login("big", client_type="web")
    device = await devices.open(server, user)
    at_limit = '{"type":"ping","pad":"' + "x" * (MAX_FRAME_BYTES - 24) + '"}'
    assert len(at_limit) == MAX_FRAME_BYTES
    await device.send_raw(at_limit)
    await device.wait_frames("error", 1)
    await device.ping()

    await device.send_raw("x" * (MAX_FRAME_BYTES + 1))
    close = await device.wait_closed()
    assert close is not None
    assert close.code == 1009
    assert [r.type for r in device.received] == ["hello", "error", "pong"]


async def test_malformed_and_unknown_frames_get_an_error_and_the_socket_stays_usable(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    user = await api.register_and_login("junk", client_type="app")
    device = await devices.open(server, user)
    junk: list[str | bytes] = [
        "not json",
        '{"type":"ping"',
        "[]",
        "42",
        "{}",
        '{"kind":"ping"}',
        '{"type":"subscribe","to":"everything"}',
        '{"type":"PING"}',
        '{"type":"ping","extra":1}',
        '{"type":"ack","user_seq":"seven"}',
        '{"type":"ack","user_seq":1.5}',
        "\u00ff" * 10,
        b"\x00\x01binary",
        b'{"type":"nope"}',
    ]
    for n, frame in enumerate(junk, start=1):
        await device.send_raw(frame)
        await device.wait_frames("error", n)
    errors = [r.frame for r in device.of_type("error")]
    for error in errors:
        assert set(error) == {"type", "code", "message"}, error
        assert isinstance(error["code"], str)
        assert error["code"]
        assert isinstance(error["message"], str)
        assert error["message"]

    # Still open and working: valid frames are accepted, pings answered, pushes delivered.
    await device.send_json({"type": "ack", "user_seq": 0})
    await device.send_json({"type": "ack", "user_seq": 10})
    await device.ping()
    sender = await api.register_and_login("sender", client_type="web")
    message = await api.send(sender, user.id, "still there?")
    await device.wait_frames("message", 1)
    assert device.messages()[0]["message"] == message
    assert [r.type for r in device.received] == ["hello"] + ["error"] * len(junk) + [
        "pong",
        "message",
    ]
    assert device.close is None


async def test_a_second_connection_of_a_device_kicks_the_first(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    user = await api.register_and_login("twice", client_type="app", device_id="phone")
    tablet = await api.login(user.username, device_id="tablet", client_type="app")
    first = await devices.open(server, user)
    other = await devices.open(server, tablet)
    second = await devices.open(server, user)

    close = await first.wait_closed()
    assert close is not None
    assert close.code == 4409
    assert [r.type for r in first.received] == ["hello", "kick"]
    kick = first.received[1].frame
    assert set(kick) == {"type", "reason"}
    assert isinstance(kick["reason"], str)
    assert kick["reason"]

    # The new connection works; the device's other siblings were left alone.
    await second.ping()
    await other.ping()
    sender = await api.register_and_login("sender", client_type="web")
    message = await api.send(sender, user.id, "which one?")
    await second.wait_frames("message", 1)
    await other.wait_frames("message", 1)
    assert second.messages() == [{"type": "message", "message": message, "user_seq": 1}]
    assert other.messages() == second.messages()
    assert second.close is None
    assert other.close is None


async def test_an_idle_connection_is_closed_4408_and_a_pinging_one_stays_open(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    server = start_server(GOMICROIM__GATEWAY__IDLE_TIMEOUT_S="1")
    api = connect(server)
    quiet_user = await api.register_and_login("quiet", client_type="web")
    chatty_user = await api.register_and_login("chatty", client_type="web")
    opened = time.monotonic()
    quiet = await devices.open(server, quiet_user)
    chatty = await devices.open(server, chatty_user)

    async def heartbeat() -> None:
        while True:
            await chatty.send_json({"type": "ping"})
            await asyncio.sleep(0.3)

    beating = asyncio.create_task(heartbeat())
    try:
        close = await quiet.wait_closed(within_s=3)
        idle_for = time.monotonic() - opened
        assert close is not None
        assert close.code == 4408
        assert [r.type for r in quiet.received] == ["hello", "kick"]
        assert quiet.received[1].frame["reason"]
        assert 0.9 <= idle_for < 3, idle_for

        # Twice the timeout later the pinging device is still open and still gets pushes.
        await asyncio.sleep(1.0)
        message = await api.send(quiet_user, chatty_user.id, "still awake?")
        await chatty.wait_frames("message", 1)
        assert chatty.messages() == [{"type": "message", "message": message}]
        assert chatty.close is None
        assert not [r for r in chatty.received if r.type not in {"hello", "pong", "message"}]
    finally:
        beating.cancel()


async def test_a_reader_that_keeps_up_is_not_cut_off_by_a_burst(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    # Default limits (gateway.max_pending_bytes 1 MiB, chat.max_body_bytes 64 KiB): a busy
    # group where a dozen members post large messages at once.
    senders = [await api.register_and_login(f"poster{n}", client_type="web") for n in range(12)]
    reader = await api.register_and_login("reader", client_type="web")
    group = await create_group_settled(api, server, reader, "busy", senders)
    device = await devices.open(server, reader)

    async def post(user: User) -> list[Json]:
        body = os.urandom(BIG_BODY_CHARS // 2).hex()
        return [await api.send_group(user, group["id"], body) for _ in range(5)]

    sent = [m for batch in await asyncio.gather(*(post(u) for u in senders)) for m in batch]
    await device.wait_until(
        lambda: len(device.messages()) >= len(sent) or device.closed.is_set(), "all pushes"
    )
    assert device.close is None, (
        f"cut off ({device.close}) after {len(device.messages())} of {len(sent)} pushes"
    )
    keys = device.message_keys()
    assert sorted(keys) == sorted((m["conversation_id"], m["seq"]) for m in sent)
    assert_in_seq_order(keys)


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a small per-connection output queue (gateway.max_pending_bytes)."""
    root = tmp_path_factory.mktemp("slow")
    process = ServerProcess(
        data_dir=root / "data",
        log_dir=root,
        env={"GOMICROIM__GATEWAY__MAX_PENDING_BYTES": str(MAX_PENDING_BYTES)},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def pushes_to_overflow() -> int:
    """How many ~60 KB pushes surely overflow a connection whose client reads nothing.

    What the server can hold for such a client is bounded: the kernel's send buffer (at most
    ``tcp_wmem`` max), the transport's buffer (one push plus its high-water mark), the client's
    tiny receive buffer, then ``max_pending_bytes``. Sending more than all of that together
    must overflow the queue, whatever the timing.
    """
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 * 1024 * 1024
    bound = wmem_max + 4 * BIG_BODY_CHARS + MAX_PENDING_BYTES + 256 * 1024
    return math.ceil(bound * 1.25 / BIG_BODY_CHARS)


async def flood(api: Api, sender: User, to: User, count: int) -> list[Json]:
    """Send ``count`` incompressible ~60 KB messages one after the other."""
    return [
        await api.send(sender, to.id, os.urandom(BIG_BODY_CHARS // 2).hex()) for _ in range(count)
    ]


async def stalled_device(devices: Devices, server: ServerProcess, user: User) -> Device:
    """A device that got its ``hello`` and then stops reading: its transport is paused."""
    device = await devices.open(server, user, receive_buffer=4096)
    assert device.ws.transport is not None
    device.ws.transport.pause_reading()
    return device


async def test_a_slow_consumer_is_cut_off_1013_and_nobody_else_notices(
    slow_server: ServerProcess, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    api = connect(slow_server)
    sender = await api.register_and_login("sender", client_type="web")
    bob = await api.register_and_login("bob", client_type="web", device_id="slow")
    bob_fast = await api.login(bob.username, device_id="fast", client_type="web")
    carol = await api.register_and_login("carol", client_type="web")
    slow = await stalled_device(devices, slow_server, bob)
    fast = await devices.open(slow_server, bob_fast)
    on_carol = await devices.open(slow_server, carol)

    count = pushes_to_overflow()
    started = time.monotonic()
    sent = await flood(api, sender, bob, count)

    # Bob's other device got every push meanwhile, and the server is fine.
    await fast.wait_frames("message", count)
    assert [f["message"] for f in fast.messages()] == sent
    assert time.monotonic() - started < 30
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    hello_carol = await api.send(sender, carol.id, "unaffected")
    await on_carol.wait_frames("message", 1)
    assert on_carol.messages()[0]["message"] == hello_carol

    # When the slow device reads again it finds an in-order prefix, then close 1013.
    assert slow.ws.transport is not None
    slow.ws.transport.resume_reading()
    close = await slow.wait_closed(within_s=10)
    assert close is not None, "closed without a close frame"
    assert close.code == 1013
    got = slow.messages()
    assert len(got) < count
    assert [f["message"] for f in got] == sent[: len(got)]
    assert_in_seq_order((f["message"]["conversation_id"], f["message"]["seq"]) for f in got)

    # It reconnects and pulls the rest.
    again = await devices.open(slow_server, bob)
    held = got[-1]["message"]["seq"] if got else 0
    conv = sent[0]["conversation_id"]
    assert await history_after(api, bob, conv, held, limit=100) == sent[len(got) :]
    await again.ping()


async def test_a_consumer_that_never_reads_again_is_dropped(
    slow_server: ServerProcess, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    api = connect(slow_server)
    sender = await api.register_and_login("sender", client_type="web")
    dave = await api.register_and_login("dave", client_type="web", device_id="stuck")
    dave_fast = await api.login(dave.username, device_id="fast", client_type="web")
    stuck = await stalled_device(devices, slow_server, dave)
    fast = await devices.open(slow_server, dave_fast)
    assert stuck.sock is not None

    count = pushes_to_overflow()
    await flood(api, sender, dave, count)
    await fast.wait_frames("message", count)
    # Every push has been routed, so the stuck device's queue has overflowed by now. The
    # server gave up on it; it must also let go of the connection rather than keep its socket
    # and kernel buffers forever, waiting for a reader that is gone.
    for _ in range(50):
        if tcp_state(stuck.sock) != TCP_ESTABLISHED:
            break
        await asyncio.sleep(0.1)
    assert tcp_state(stuck.sock) != TCP_ESTABLISHED, (
        "the server still holds the TCP connection of a consumer it cut off 5 s ago"
    )
    assert (await api.client.get("/readyz")).status_code == 200
    assert httpx.codes.is_success((await api.client.get("/healthz")).status_code)


async def test_hostile_frames_get_bad_frame_and_the_socket_stays_usable(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    user = await api.register_and_login("hostile", client_type="app")
    device = await devices.open(server, user)
    hostile: list[str | bytes] = [
        '{"a":' * 1000 + "1" + "}" * 1000,  # nested deeper than any parser's stack
        '{"x":' + "[" * 1000 + "]" * 1000 + ',"type":"ping"}',
        '{"type":"ack","user_seq":1,"user_seq":2}',  # a repeated key
        '{"type":"ping","type":"ack"}',
        b'{"type":"ping"}',  # frames are JSON text, not binary
        '{"type":"ack","user_seq":-1}',
        '{"type":"ack","user_seq":9007199254740992}',  # above 2^53 - 1
        '{"type":"reauth","access_token":""}',
        '{"type":"reauth","access_token":' + '"' + "t" * 5000 + '"}',
    ]
    for n, frame in enumerate(hostile, start=1):
        await device.send_raw(frame)
        await device.wait_frames("error", n)
    errors = [r.frame for r in device.of_type("error")]
    assert [e["code"] for e in errors] == ["bad_frame"] * len(hostile), errors
    await device.ping()
    assert device.close is None
    assert server.error_lines() == []


async def test_a_text_frame_that_is_not_utf8_closes_1007_without_an_error_log(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    user = await api.register_and_login("latin", client_type="web")
    device = await devices.open(server, user)
    await device.ws.send(b'{"type":"ping","x":"\xff\xfe"}', text=True)
    close = await device.wait_closed()
    assert close is not None
    assert close.code == 1007
    assert server.error_lines() == []


async def raw_upgrade(
    server: ServerProcess, target: bytes, extra: bytes = b""
) -> tuple[bytes, bool]:
    """Send a WebSocket upgrade by hand: (what the server answered, whether it then hung up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET " + target + b" HTTP/1.1\r\nHost: gomicroim\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks), True
    except TimeoutError:
        return b"".join(chunks), False
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("what", "target", "extra", "status", "code"),
    [
        ("a 9 KB token", b"/ws?token=" + b"a" * 9000, b"", 414, "uri_too_long"),
        ("a 70 KB URL", b"/ws?x=" + b"a" * 70_000, b"", 414, "uri_too_long"),
        ("a 9 KB header", b"/ws", b"Authorization: Bearer " + b"a" * 9000 + b"\r\n", 431, None),
        (
            "200 headers",
            b"/ws",
            b"".join(b"X-H%d: a\r\n" % i for i in range(200)),
            431,
            "too_many_headers",
        ),
    ],
)
async def test_an_oversized_upgrade_gets_an_http_error_and_the_connection_ends(
    server: ServerProcess, what: str, target: bytes, extra: bytes, status: int, code: str | None
) -> None:
    answer, hung_up = await raw_upgrade(server, target, extra)
    assert hung_up, f"{what}: the server kept the connection open; it answered {answer[:200]!r}"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), (what, head)
    assert b"content-type: application/json" in head.lower(), head
    error = json.loads(body)["error"]
    assert error["code"] == (code or "headers_too_large"), error
    assert error["message"]


async def test_a_socket_over_its_frame_rate_is_told_then_closed_4429_and_others_are_not(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    server = start_server(
        GOMICROIM__GATEWAY__MAX_FRAMES_PER_SECOND="5", GOMICROIM__GATEWAY__FRAME_BURST="10"
    )
    api = connect(server)
    flooder_user = await api.register_and_login("flooder", client_type="web")
    calm_user = await api.register_and_login("calm", client_type="web")
    flooder = await devices.open(server, flooder_user)
    calm = await devices.open(server, calm_user)

    for _ in range(10):
        await flooder.send_json({"type": "ping"})
    await flooder.wait_frames("pong", 10)
    await flooder.send_json({"type": "ping"})
    await flooder.wait_frames("error", 1)
    limited = flooder.of_type("error")[0].frame
    assert limited["code"] == "rate_limited"
    assert "gateway.max_frames_per_second" in limited["message"]

    # It keeps flooding: the server stops answering frame by frame and closes.
    with contextlib.suppress(ConnectionClosed):
        for _ in range(200):
            await flooder.send_json({"type": "ping"})
    close = await flooder.wait_closed()
    assert close is not None
    assert close.code == 4429
    assert flooder.received[-1].type == "kick"
    assert {r.type for r in flooder.received} <= {"hello", "pong", "error", "kick"}

    await calm.ping()
    message = await api.send(flooder_user, calm_user.id, "are you fine?")
    await calm.wait_frames("message", 1)
    assert calm.messages()[0]["message"] == message
    assert calm.close is None


async def refused_upgrade(server: ServerProcess, user: User) -> httpx.Response:
    """The HTTP answer to an upgrade the server must refuse (it must not switch protocols)."""
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get(
            "/ws",
            params={"token": user.access_token},
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
    assert response.status_code != 101, "the upgrade was accepted"
    return response


async def open_once_admitted(devices: Devices, server: ServerProcess, user: User) -> Device:
    """Open a device, retrying while the server still counts a socket that was just closed."""
    deadline = time.monotonic() + 3
    while True:
        try:
            return await devices.open(server, user)
        except InvalidStatus as refused:
            if refused.response.status_code != 429 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_connections_beyond_the_per_user_and_per_ip_caps_get_429(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    server = start_server(
        GOMICROIM__GATEWAY__MAX_CONNECTIONS_PER_USER="2",
        GOMICROIM__GATEWAY__MAX_CONNECTIONS_PER_IP="4",
    )
    api = connect(server)
    ann = await api.register_and_login("ann", client_type="web", device_id="d1")
    ann_d2 = await api.login(ann.username, device_id="d2", client_type="web")
    ann_d3 = await api.login(ann.username, device_id="d3", client_type="web")
    await devices.open(server, ann)
    second = await devices.open(server, ann_d2)

    refused = await refused_upgrade(server, ann_d3)
    assert_error(refused, 429, "too_many_connections")
    assert "gateway.max_connections_per_user" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) > 0
    # A device already connected may reconnect (it replaces its own socket).
    again = await devices.open(server, ann_d2)
    assert (await second.wait_closed()).code == 4409  # type: ignore[union-attr]
    # When a device goes, another may come.
    await again.aclose()
    third = await open_once_admitted(devices, server, ann_d3)
    await third.ping()

    # Per address: 2 of ann's sockets are open; 2 more users fill the cap of 4.
    bo = await api.register_and_login("bo", client_type="web")
    cy = await api.register_and_login("cy", client_type="web")
    di = await api.register_and_login("di", client_type="web")
    await devices.open(server, bo)
    await devices.open(server, cy)
    refused = await refused_upgrade(server, di)
    assert_error(refused, 429, "too_many_connections")
    assert "gateway.max_connections_per_ip" in refused.json()["error"]["message"]
    await third.aclose()
    late = await open_once_admitted(devices, server, di)
    await late.ping()
    assert server.error_lines() == []
