"""WebSocket devices for end-to-end tests: real ``websockets`` clients that record every frame.

A :class:`Device` is one logged-in device holding ``/ws`` open. A reader task stores each frame
with its arrival time until the server closes the socket, so tests assert on what the device
received, in what order and when, and on the close code it was given.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from tests.e2e.client import Api, Json, User

#: How long a test waits for a frame that must come (pushes normally take milliseconds).
FRAME_TIMEOUT_S = 5.0

#: (conversation_id, seq): identifies one message.
Key = tuple[str, int]


class Endpoint(Protocol):
    """Where a device connects: a server process, a replica of a cluster or its nginx."""

    @property
    def base_url(self) -> str: ...

    @property
    def port(self) -> int: ...


def ws_url(server: Endpoint, token: str | None = None) -> str:
    """The gateway URL, with the access token in the query string when given."""
    base = server.base_url.replace("http://", "ws://", 1) + "/ws"
    return f"{base}?token={token}" if token is not None else base


def key(message: Json) -> Key:
    """A message's (conversation_id, seq)."""
    return (message["conversation_id"], message["seq"])


@dataclass(frozen=True)
class Received:
    """One frame as the device got it, with ``time.monotonic()`` at arrival."""

    at: float
    frame: Json

    @property
    def type(self) -> str:
        """The frame's ``type``."""
        return str(self.frame.get("type"))


class Device:
    """One connected device; a background reader records frames until the socket closes."""

    def __init__(self, user: User, ws: ClientConnection, sock: socket.socket | None = None):
        self.user = user
        self.ws = ws
        self.sock = sock
        self.received: list[Received] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"ws-reader-{user.device_id}")

    @property
    def name(self) -> str:
        """``username/device_id``, for failure messages."""
        return f"{self.user.username}/{self.user.device_id}"

    @property
    def hello(self) -> Json:
        """The first frame, which must be ``hello``."""
        assert self.received, f"{self.name} received nothing"
        first = self.received[0].frame
        assert first["type"] == "hello", first
        return first

    @property
    def close(self) -> Close | None:
        """The close frame the server sent, or None (not closed yet, or closed without one)."""
        return self.ws.protocol.close_rcvd

    def last_frames(self, count: int = 3, chars: int = 200) -> list[str]:
        """The last frames, shortened, for failure messages."""
        return [json.dumps(r.frame)[:chars] for r in self.received[-count:]]

    def of_type(self, kind: str) -> list[Received]:
        """Received frames of one ``type``, in arrival order."""
        return [r for r in self.received if r.type == kind]

    def messages(self) -> list[Json]:
        """The ``message`` frames, in arrival order."""
        return [r.frame for r in self.of_type("message")]

    def message_keys(self) -> list[Key]:
        """(conversation_id, seq) of each ``message`` frame, in arrival order."""
        return [key(f["message"]) for f in self.messages()]

    async def send_json(self, frame: Any) -> None:
        """Send a JSON text frame."""
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        """Send a text (str) or binary (bytes) frame as is."""
        await self.ws.send(data)

    async def wait_until(
        self, condition: Callable[[], bool], what: str, within_s: float = FRAME_TIMEOUT_S
    ) -> None:
        """Wait until ``condition()`` holds, checking after every frame and at close."""
        deadline = time.monotonic() + within_s
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{self.name}: {what} not within {within_s:g} s; got {len(self.received)}"
                    f" frames, last: {self.last_frames()}, close: {self.close}"
                )
            self._changed.clear()
            if condition():
                return
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue

    async def wait_frames(self, kind: str, count: int, within_s: float = FRAME_TIMEOUT_S) -> None:
        """Wait until at least ``count`` frames of ``kind`` have arrived."""
        await self.wait_until(
            lambda: len(self.of_type(kind)) >= count, f"{count} {kind!r} frames", within_s
        )

    async def ping(self) -> None:
        """Ping and wait for the pong.

        The server answers on the same ordered queue as pushes, so after the pong this device
        has received everything the server had queued for it before reading the ping.
        """
        pongs = len(self.of_type("pong"))
        await self.send_json({"type": "ping"})
        await self.wait_frames("pong", pongs + 1)

    async def wait_closed(self, within_s: float = FRAME_TIMEOUT_S) -> Close | None:
        """Wait until the socket is closed; return the server's close frame (None: none came)."""
        try:
            await asyncio.wait_for(self.closed.wait(), within_s)
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: still open after {within_s:g} s; last frames: {self.last_frames()}"
            ) from None
        return self.close

    async def aclose(self) -> None:
        """Close from the client side and stop the reader."""
        if self.sock is not None and self.ws.transport is not None:
            # A paused transport never reads the server's close reply; don't wait for it.
            self.ws.transport.abort()
        await self.ws.close()
        await self._reader

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self.received.append(Received(time.monotonic(), json.loads(data)))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()


class Devices:
    """Opens devices on servers and closes whatever is still open at teardown."""

    def __init__(self) -> None:
        self._open: list[Device] = []

    async def open(
        self,
        server: Endpoint,
        user: User,
        *,
        receive_buffer: int | None = None,
        wait_hello: bool = True,
    ) -> Device:
        """Connect ``user``'s device and (by default) wait for its ``hello``.

        ``receive_buffer`` sets the TCP receive buffer (SO_RCVBUF) before connecting, so a test
        that stops reading knows how little the client's kernel takes in for it. Compression
        is off so that bytes pushed are bytes on the wire.
        """
        sock = None
        if receive_buffer is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        ws = await connect(
            ws_url(server, user.access_token),
            sock=sock,
            compression=None,
            max_size=None,
            ping_interval=None,
            close_timeout=1,
        )
        device = Device(user, ws, sock)
        self._open.append(device)
        if wait_hello:
            await device.wait_frames("hello", 1)
        return device

    async def close_all(self) -> None:
        """Close every device opened here."""
        await asyncio.gather(*(d.aclose() for d in self._open), return_exceptions=True)
        self._open.clear()


@asynccontextmanager
async def opened_devices() -> AsyncIterator[Devices]:
    """A :class:`Devices` whose devices are closed on exit (the body of a ``devices`` fixture)."""
    devices = Devices()
    try:
        yield devices
    finally:
        await devices.close_all()


async def sync_all(
    api: Api, user: User, after: int = 0, limit: int = 100
) -> tuple[list[Json], int]:
    """Page ``GET /api/v1/sync`` from ``after`` like an app does; (entries, latest_seq)."""
    entries: list[Json] = []
    latest = 0
    while True:
        response = await api.client.get(
            "/api/v1/sync", params={"after": after, "limit": limit}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"entries", "latest_seq", "has_more"}, page
        assert len(page["entries"]) <= limit, page
        entries.extend(page["entries"])
        latest = page["latest_seq"]
        if not page["has_more"]:
            return entries, latest
        assert page["entries"], page
        after = page["entries"][-1]["user_seq"]


async def sync_until(
    api: Api, user: User, count: int, within_s: float = FRAME_TIMEOUT_S
) -> tuple[list[Json], int]:
    """Sync from 0 until at least ``count`` entries are there (fan-out runs after the reply)."""
    deadline = time.monotonic() + within_s
    while True:
        entries, latest = await sync_all(api, user)
        if len(entries) >= count or time.monotonic() > deadline:
            return entries, latest
        await asyncio.sleep(0.02)


def assert_user_seqs_contiguous(entries: Iterable[Json], start: int = 1) -> None:
    """Timeline entries' user seqs run ``start, start+1, ...`` with no gap or repeat."""
    seqs = [e["user_seq"] for e in entries]
    assert seqs == list(range(start, start + len(seqs))), seqs


def assert_in_seq_order(keys: Iterable[Key]) -> None:
    """Per conversation, seqs arrive strictly increasing (no repeat, no reordering)."""
    last: dict[str, int] = {}
    for conv, seq in keys:
        assert seq > last.get(conv, 0), (conv, seq, last.get(conv))
        last[conv] = seq


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a client socket (1 = established), from TCP_INFO (Linux)."""
    if not hasattr(socket, "TCP_INFO"):
        pytest.skip("needs TCP_INFO (Linux) to see whether the server dropped the connection")
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


TCP_ESTABLISHED = 1


async def history_after(api: Api, user: User, conv: str, after: int, limit: int) -> list[Json]:
    """History after ``after_seq``, paged forward ``limit`` at a time the way a web client does."""
    messages: list[Json] = []
    while True:
        page = await api.page(user, conv, after_seq=after, limit=limit)
        assert len(page["messages"]) <= limit, page
        messages.extend(page["messages"])
        if not page["has_more"]:
            return messages
        assert page["messages"], page
        after = page["messages"][-1]["seq"]


async def create_group_settled(
    api: Api, server: Endpoint, owner: User, name: str, members: list[User]
) -> Json:
    """Create a group and wait until its ``group_created`` system message is pushed.

    A device of the owner's ("group-watch", the owner's client type) is online meanwhile: once
    it has the push, that message's fan-out is over, so devices opened afterwards never get it
    (without the wait, a device opened just after the creation might).
    """
    watch = await api.login(owner.username, device_id="group-watch", client_type=owner.client_type)
    async with opened_devices() as opened:
        device = await opened.open(server, watch)
        group = await api.create_group(owner, name, members)
        conv = f"g:{group['id']}"
        await device.wait_until(
            lambda: any(m["message"]["conversation_id"] == conv for m in device.messages()),
            "the group_created push",
        )
    return group
