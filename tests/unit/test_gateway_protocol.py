"""The gateway's WebSocket protocol over an in-memory transport: a whole socket's life."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.streams import StreamReader

from gomicroim.gateway.protocol import GatewayWebSocketProtocol

UPGRADE = (
    b"GET /ws?token=t HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nUser-Agent: unit-test\r\nX-Padding: " + b"p" * 500 + b"\r\n\r\n"
)


class Transport:
    """What the protocol writes, and whether it closed or paused."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    abort = close

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name)


def client_frame(opcode: Opcode, data: bytes) -> bytes:
    """A masked frame, as a client sends it."""
    return Frame(opcode, data).serialize(mask=True, extensions=[])


def server_frames(written: bytes) -> list[Frame]:
    """The frames after the 101 response."""
    reader = StreamReader()
    reader.feed_data(written[written.index(b"\r\n\r\n") + 4 :])
    parsed = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            while True:
                next(parser)
        except StopIteration as done:
            parsed.append(done.value)
    return parsed


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Accept, then echo each text message back with a prefix until the peer closes."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": "echo " + event["text"]})


async def open_socket(app: Any = echo_app) -> tuple[GatewayWebSocketProtocol, Transport]:
    config = Config(app=app, ws="websockets-sansio", lifespan="off", log_config=None)
    config.load()
    protocol = GatewayWebSocketProtocol(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}
    )
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(UPGRADE)
    for _ in range(20):
        await asyncio.sleep(0)
    return protocol, transport


async def test_a_socket_echoes_in_order_and_closes_cleanly() -> None:
    protocol, transport = await open_socket()
    assert transport.written.startswith(b"HTTP/1.1 101")

    protocol.data_received(b"".join(client_frame(Opcode.TEXT, f"m{i}".encode()) for i in range(5)))
    for _ in range(50):
        await asyncio.sleep(0)
    assert [f.data.decode() for f in server_frames(transport.written)] == [
        f"echo m{i}" for i in range(5)
    ]

    protocol.data_received(client_frame(Opcode.CLOSE, b"\x03\xe8bye"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.closed
    assert server_frames(transport.written)[-1].opcode is Opcode.CLOSE


async def test_an_open_socket_no_longer_holds_its_upgrade_request() -> None:
    # Every header of the upgrade, kept for the socket's life, was most of an idle socket's cost.
    protocol, transport = await open_socket()
    assert transport.written.startswith(b"HTTP/1.1 101")
    gc.collect()
    held = [o for o in gc.get_objects() if isinstance(o, Request) and "X-Padding" in o.headers]
    assert held == []

    # The restarted parser still reads the first frame.
    protocol.data_received(client_frame(Opcode.TEXT, b"after"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert server_frames(transport.written)[-1].data == b"echo after"


async def test_a_peer_that_stops_reading_blocks_sends_until_it_drains() -> None:
    sent: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for text in ("one", "two"):
            await send({"type": "websocket.send", "text": text})
            sent.append(text)
        await receive()

    protocol, transport = await open_socket(app)
    assert sent == ["one", "two"]

    protocol.pause_writing()
    blocked = asyncio.get_running_loop().create_task(
        protocol.send({"type": "websocket.send", "text": "three"})
    )
    await asyncio.sleep(0.01)
    assert not blocked.done()
    protocol.resume_writing()
    await asyncio.wait_for(blocked, 1)
    assert server_frames(transport.written)[-1].data == b"three"


async def test_a_detached_socket_stays_open_after_its_app_returns() -> None:
    inputs: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        scope["extensions"]["gomicroim.detach"](lambda: inputs.append(protocol.pending()))

    protocol, transport = await open_socket(app)
    assert transport.written.startswith(b"HTTP/1.1 101")
    assert not transport.closed
    # What the app no longer reads is let go, the token in the query string first.
    assert protocol.scope["query_string"] == b""
    assert "headers" not in protocol.scope

    protocol.data_received(client_frame(Opcode.TEXT, b"later"))
    assert inputs == [1]
    assert await protocol.receive() == {"type": "websocket.receive", "text": "later"}
    await protocol.send({"type": "websocket.send", "text": "answer"})
    assert server_frames(transport.written)[-1].data == b"answer"

    protocol.connection_lost(None)
    assert (await protocol.receive())["type"] == "websocket.disconnect"
