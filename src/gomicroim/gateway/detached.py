"""Reading a socket whose ASGI task has returned: a task only while frames wait.

An open socket's ASGI task sits in ``receive()`` for the socket's whole life, holding every
coroutine frame from the server through the middleware to the read loop. Our uvicorn protocol
lets the gateway detach instead (``protocol.DETACH``): the app returns, the socket stays
open, and this reader runs when the protocol says input arrived, handles what is there and
ends, the way a connection's writer exists only while it has a backlog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from uvicorn._types import ASGIReceiveEvent

log = logging.getLogger("gomicroim.gateway")


class DetachedSocket(Protocol):
    """What the gateway uses of a detached socket (``GatewayWebSocketProtocol``)."""

    def pending(self) -> int:
        """Events ``receive`` returns without waiting."""
        ...

    async def receive(self) -> ASGIReceiveEvent:
        """The next event, as ASGI's ``receive``."""
        ...

    async def send(self, message: Any) -> None:
        """Send an event, as ASGI's ``send``."""
        ...


#: ``protocol.DETACH``: given the reader's ``on_input``, detaches and returns the socket.
Detach = Callable[[Callable[[], None]], DetachedSocket]


class DetachedReads:
    """Hands each event to ``handle`` (False: the socket is done), then runs ``end`` once."""

    def __init__(
        self,
        handle: Callable[[ASGIReceiveEvent], Awaitable[bool]],
        end: Callable[[], Awaitable[None]],
    ):
        self._handle = handle
        self._end = end
        self._socket: DetachedSocket | None = None
        self._task: asyncio.Task[None] | None = None
        self._ended = False

    def attach(self, socket: DetachedSocket) -> None:
        """Start reading ``socket``, beginning with what arrived before the detach."""
        self._socket = socket
        if socket.pending():
            self.on_input()

    def on_input(self) -> None:
        """Input arrived: start a reader unless one runs (it sees the new input)."""
        if self._task is None and not self._ended and self._socket is not None:
            self._task = asyncio.get_running_loop().create_task(self._read(self._socket))

    async def _read(self, socket: DetachedSocket) -> None:
        try:
            # No await between the last check and the end of the task: input that arrives
            # later finds no reader and starts one.
            while socket.pending():
                if not await self._handle(await socket.receive()):
                    self._ended = True
                    break
        except Exception:
            # In an ASGI task this would end the app and the socket; here it must end both.
            log.exception("websocket reader failed; closing the socket")
            self._ended = True
        finally:
            self._task = None
        if self._ended:
            await self._end()
