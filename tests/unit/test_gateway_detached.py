"""DetachedReads: events in order, a reader only while input waits, one end, failures end it."""

from __future__ import annotations

import asyncio
from typing import Any

from gomicroim.gateway.detached import DetachedReads
from gomicroim.gateway.waiting import Inbox


class Socket:
    """A detached socket's reading side over an Inbox, as the protocol offers it."""

    def __init__(self) -> None:
        self.inbox: Inbox[dict[str, Any]] = Inbox()

    def pending(self) -> int:
        return self.inbox.qsize()

    async def receive(self) -> Any:
        return await self.inbox.get()

    async def send(self, message: Any) -> None:
        raise AssertionError("not used")

    def client_sends(self, text: str) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": text})

    def disconnects(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_events_are_handled_in_order_and_the_end_runs_once() -> None:
    handled: list[str] = []
    ends: list[bool] = []

    async def handle(message: Any) -> bool:
        if message["type"] == "websocket.disconnect":
            return False
        await asyncio.sleep(0)  # a handler that awaits, like a reauth
        handled.append(message["text"])
        return True

    async def end() -> None:
        ends.append(True)

    socket = Socket()
    reads = DetachedReads(handle, end)
    socket.inbox.on_put = reads.on_input
    socket.client_sends("before the detach")
    reads.attach(socket)  # type: ignore[arg-type]
    for text in ("a", "b", "c"):
        socket.client_sends(text)
    await settle()
    assert handled == ["before the detach", "a", "b", "c"]
    assert ends == []

    # Later input starts a new reader; no reader waits in between.
    socket.client_sends("d")
    socket.disconnects()
    socket.client_sends("after the end")
    await settle()
    assert handled == ["before the detach", "a", "b", "c", "d"]
    assert ends == [True]
    socket.client_sends("ignored")
    await settle()
    assert ends == [True]


async def test_a_failing_handler_ends_the_socket_instead_of_leaving_it_unread() -> None:
    ends: list[bool] = []

    async def handle(message: Any) -> bool:
        raise RuntimeError("bug")

    async def end() -> None:
        ends.append(True)

    socket = Socket()
    reads = DetachedReads(handle, end)
    socket.inbox.on_put = reads.on_input
    reads.attach(socket)  # type: ignore[arg-type]
    socket.client_sends("boom")
    await settle()
    assert ends == [True]
