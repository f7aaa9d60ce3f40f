"""Seeded WebSocket fuzzing: random, broken and hostile frames from several sockets at once.

Every answer must follow the frame contract (an ``error`` frame, or a close with a documented
code; never a silent drop or a 1011), other users must keep getting their messages in order
meanwhile, the server must log no error, and its memory must stay bounded. The seed is
printed; ``GOMICROIM_WS_FUZZ_SEED=<seed>`` replays the same frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.client import Api, User
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Device, Devices, assert_in_seq_order, opened_devices
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("GOMICROIM_WS_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
FUZZERS = 6
#: Fuzzing time per socket; with setup and checks the test stays well under a minute.
FUZZ_FOR_S = 20.0
MAX_FRAME_BYTES = 16_384
RATE, BURST = 100, 100
#: RSS may grow by this much over the run: a few full output queues and parser buffers.
RSS_GROWTH_BOUND = 64 * 1024 * 1024

#: Close codes a fuzzed socket may get, each documented in the README.
DOCUMENTED_CLOSES = {1007, 1009, 1013, 4429}
ERROR_CODES = {"bad_frame", "rate_limited", "invalid_token", "token_expired", "token_mismatch"}


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def random_json(rng: random.Random, depth: int = 0) -> object:
    """A random JSON value, sometimes shaped like a frame."""
    kind = rng.randrange(8 if depth < 5 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**53, 2**64, rng.randint(-(10**9), 10**9), rng.random()])
    if kind in (2, 3):
        return "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD7FF)]))
            for _ in range(rng.randrange(12))
        )
    if kind in (4, 5):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    obj = {str(random_json(rng, 5)): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    if rng.random() < 0.6:
        obj["type"] = rng.choice(["ping", "ack", "reauth", "hello", "message", "", "PING", 7])
    return obj


def nested(rng: random.Random) -> str:
    """JSON nested hundreds to thousands deep, within the frame size limit."""
    if rng.random() < 0.5:
        depth = rng.randrange(200, MAX_FRAME_BYTES // 2)
        return "[" * depth + "]" * depth
    depth = rng.randrange(200, MAX_FRAME_BYTES // 6)
    return '{"a":' * depth + "0" + "}" * depth


#: Frames that must each be answered by exactly one ``error`` frame.
def bad_frame(rng: random.Random) -> str | bytes:
    valid = rng.choice(['{"type":"ping"}', '{"type":"ack","user_seq":3}'])
    makers: list[Callable[[], str | bytes]] = [
        lambda: valid[: rng.randrange(1, len(valid) - 1)],  # truncated
        lambda: rng.randbytes(rng.randrange(1, 300)),  # binary
        lambda: valid.encode(),  # a valid frame, but binary
        lambda: nested(rng),
        lambda: json.dumps({"type": rng.choice(["subscribe", "hello", "kick", "Ping"])}),
        lambda: json.dumps(
            {"type": "ack", "user_seq": rng.choice(["7", 1.5, -3, None, [], 2**60])}
        ),
        lambda: '{"type":"ack","user_seq":1,"user_seq":2}',
        lambda: json.dumps({"type": "ping", "extra": random_json(rng)}),
        lambda: json.dumps(random_json(rng)) if rng.random() < 0.9 else "",
        lambda: "".join(chr(rng.randrange(1, 0xD7FF)) for _ in range(rng.randrange(1, 200))),
    ]
    frame = rng.choice(makers)()
    # The generators can stumble on a valid frame; keep every case an error.
    return "{}" if looks_valid(frame) else frame


def looks_valid(frame: str | bytes) -> bool:
    """Whether ``frame`` is a frame the contract accepts (then it would not get an error)."""
    if not isinstance(frame, str):
        return False
    try:
        value = json.loads(frame)
    except (ValueError, RecursionError):
        return False
    if not isinstance(value, dict):
        return False
    if value == {"type": "ping"} or value == {"type": "ack"}:
        return True
    if set(value) == {"type", "ack"} or set(value) != {"type", "user_seq"}:
        return value.get("type") == "reauth" and set(value) == {"type", "access_token"}
    seq = value["user_seq"]
    return value["type"] == "ack" and type(seq) is int and 0 <= seq < 2**53


@dataclass
class Tally:
    """What one fuzzing socket did and saw."""

    actions: dict[str, int] = field(default_factory=dict)
    closes: dict[int, int] = field(default_factory=dict)

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


class Fuzzer:
    """One user's device that fuzzes, reconnecting whenever the server closes it."""

    def __init__(self, index: int, server: ServerProcess, devices: Devices, user: User):
        self.rng = random.Random(SEED * 1000 + index)
        self.server = server
        self.devices = devices
        self.user = user
        self.device: Device | None = None
        self.tally = Tally()
        self.where = f"seed {SEED}, socket {index}"

    async def run(self, until: float) -> Tally:
        while time.monotonic() < until:
            if self.device is None or self.device.closed.is_set():
                self.device = await self.devices.open(self.server, self.user)
            action = self.rng.choices(
                ["bad", "reauth", "oversized", "not_utf8", "flood", "quiet_flood", "tiny_flood"],
                weights=[80, 6, 3, 3, 3, 2, 2],
            )[0]
            self.tally.count(action)
            await getattr(self, action)(self.device)
            await asyncio.sleep(self.rng.uniform(0.02, 0.04))  # under the frame rate
        return self.tally

    async def answered(self, device: Device, errors_before: int, code: str | None) -> None:
        """The socket answered what was sent with one error frame (of ``code``), then pong."""
        await device.ping()
        errors = [r.frame for r in device.of_type("error")][errors_before:]
        assert len(errors) == 1, (self.where, errors)
        assert set(errors[0]) == {"type", "code", "message"}, (self.where, errors)
        assert errors[0]["message"], (self.where, errors)
        assert code is None or errors[0]["code"] == code, (self.where, errors)

    async def closed_with(self, device: Device, codes: set[int]) -> None:
        close = await device.wait_closed(within_s=10)
        assert close is not None, f"{self.where}: dropped without a close frame"
        assert close.code in codes, (self.where, close)
        self.tally.closes[close.code] = self.tally.closes.get(close.code, 0) + 1

    async def bad(self, device: Device) -> None:
        before = len(device.of_type("error"))
        await device.send_raw(bad_frame(self.rng))
        await self.answered(device, before, "bad_frame")

    async def reauth(self, device: Device) -> None:
        before = len(device.of_type("error"))
        token = "".join(self.rng.choice("abcXYZ019.-_") for _ in range(self.rng.randrange(1, 400)))
        await device.send_json({"type": "reauth", "access_token": token})
        await self.answered(device, before, "invalid_token")

    async def oversized(self, device: Device) -> None:
        size = MAX_FRAME_BYTES + 1 + self.rng.randrange(100_000)
        await device.send_raw(self.rng.choice(["x" * size, b"\x00" * size]))
        await self.closed_with(device, {1009})

    async def not_utf8(self, device: Device) -> None:
        await device.ws.send(
            b'{"type":"ping","x":"\xc3\x28' + self.rng.randbytes(4) + b'"}', text=True
        )
        await self.closed_with(device, {1007})

    async def flood(self, device: Device) -> None:
        """Far more frames than the budget, as fast as the client can write them."""
        frames = [
            bad_frame(self.rng) if self.rng.random() < 0.3 else '{"type":"ping"}'
            for _ in range(3 * BURST + self.rng.randrange(200))
        ]
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await device.send_raw(frame)
        await self.closed_with(device, {4429})
        assert {r.type for r in device.received} <= {"hello", "pong", "error", "kick"}

    async def tiny_flood(self, device: Device) -> None:
        """Tens of thousands of 6-byte frames written at once: many frames per TCP read."""
        assert device.ws.transport is not None
        empty_text = b"\x81\x80" + self.rng.randbytes(4)  # FIN, text, masked, no payload
        device.ws.transport.write(empty_text * self.rng.randrange(20_000, 100_000))
        await self.closed_with(device, {4429})

    async def quiet_flood(self, device: Device) -> None:
        """A flood from a client that stops reading: TCP back-pressure, then a close."""
        assert device.ws.transport is not None
        device.ws.transport.pause_reading()
        blob = '{"type":"ping","pad":"' + "p" * (MAX_FRAME_BYTES - 40) + '"}'
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(1):
                for _ in range(3 * BURST):
                    await device.send_raw(blob)
        device.ws.transport.resume_reading()
        await self.closed_with(device, {4429, 1013})


async def bystander_traffic(api: Api, sender: User, bystander: User, count: int) -> list[int]:
    """``count`` messages from ``sender`` to ``bystander``, one after the other; their seqs."""
    seqs = []
    for n in range(count):
        seqs.append((await api.send(sender, bystander.id, f"ordered {n}"))["seq"])
        await asyncio.sleep(0.05)
    return seqs


async def test_websocket_fuzzing_keeps_the_contract_and_the_server_healthy(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    print(f"ws fuzz seed {SEED} (replay: GOMICROIM_WS_FUZZ_SEED={SEED})")
    server = start_server(
        GOMICROIM__GATEWAY__MAX_FRAME_BYTES=str(MAX_FRAME_BYTES),
        GOMICROIM__GATEWAY__MAX_FRAMES_PER_SECOND=str(RATE),
        GOMICROIM__GATEWAY__FRAME_BURST=str(BURST),
        GOMICROIM__GATEWAY__MAX_PENDING_BYTES="262144",
    )
    api = connect(server)
    sender = await api.register_and_login("sender", client_type="web")
    bystanders = [await api.register_and_login(f"calm{n}", client_type="web") for n in range(2)]
    watching = [await devices.open(server, b) for b in bystanders]
    users = [await api.register_and_login(f"fuzz{n}", client_type="web") for n in range(FUZZERS)]
    fuzzers = [Fuzzer(n, server, devices, u) for n, u in enumerate(users)]
    rss_before = server.rss_bytes()
    rss_peak = rss_before

    async def sample_rss(stop: asyncio.Event) -> None:
        nonlocal rss_peak
        while not stop.is_set():
            rss_peak = max(rss_peak, server.rss_bytes())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    stop = asyncio.Event()
    sampling = asyncio.create_task(sample_rss(stop))
    until = time.monotonic() + FUZZ_FOR_S
    try:
        results = await asyncio.gather(
            *(f.run(until) for f in fuzzers),
            *(bystander_traffic(api, sender, b, 100) for b in bystanders),
        )
    finally:
        stop.set()
        await sampling
    tallies, sent = results[:FUZZERS], results[FUZZERS:]
    print("ws fuzz actions:", [t.actions for t in tallies], "closes:", [t.closes for t in tallies])

    # Other users got every message, in order, without a hiccup on their sockets.
    for device, seqs in zip(watching, sent, strict=True):
        await device.wait_frames("message", len(seqs), within_s=10)
        keys = device.message_keys()
        assert [seq for _, seq in keys] == seqs, f"seed {SEED}: {device.name} missed or reordered"
        assert_in_seq_order(keys)
        await device.ping()
        assert device.close is None, (SEED, device.close)
    assert sum(t.actions.get("bad", 0) for t in tallies) > 20 * FUZZERS, tallies
    assert any(t.closes.get(4429) for t in tallies), tallies  # the floods were exercised

    assert server.error_lines() == [], f"seed {SEED}: error-level log lines"
    assert (await api.client.get("/readyz")).status_code == 200
    await devices.close_all()
    await asyncio.sleep(0.5)
    rss_after = server.rss_bytes()
    growth = max(rss_peak, rss_after) - rss_before
    mib = [rss_before >> 20, rss_peak >> 20, rss_after >> 20]
    print("ws fuzz RSS MiB before, peak, after:", mib)
    assert growth < RSS_GROWTH_BOUND, f"seed {SEED}: RSS grew by {growth >> 20} MiB"
