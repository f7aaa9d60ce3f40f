"""Clients that speak ASGI to an app in the test's own event loop, without a network.

Litestar's test clients run the app's lifespan on a thread of their own, so the background
tasks it starts would live in another event loop than the requests; these do not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import httpx
from litestar import Litestar


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan in this event loop and yield an HTTP client for it.

    The lifespan runs in a task of its own, entered and left there, so a fixture may set it
    up in one task and tear it down in another.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run(), name="test-app-lifespan")
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({lifespan, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if lifespan.done():
        lifespan.result()  # the start failed: raise why
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        stop.set()
        await lifespan


class AsgiWebSocket:
    """Opens ``path`` on ``app`` as a browser would, then exchanges frames with it.

    Use as ``async with AsgiWebSocket(app, "/ws", token=...) as socket``. Frames the server
    sends are read with :meth:`receive_json`; a close from the server raises
    :class:`ConnectionClosed` with its code.
    """

    def __init__(self, app: Litestar, path: str, **query: str) -> None:
        self._app = app
        self._path = path
        self._query = "&".join(f"{key}={value}" for key, value in query.items())
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": self._path,
            "raw_path": self._path.encode(),
            "root_path": "",
            "query_string": self._query.encode(),
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "subprotocols": [],
            "state": {},
            "extensions": {},
        }
        self._task = asyncio.create_task(
            self._app(scope, self._to_app.get, self._send)  # type: ignore[arg-type]
        )
        await self._to_app.put({"type": "websocket.connect"})
        accepted = await self._next()
        if accepted["type"] != "websocket.accept":
            raise ConnectionClosed(accepted.get("code", 1006))
        return self

    async def _send(self, event: dict[str, Any]) -> None:
        # The gateway reuses one event dict for every frame it writes: keep a copy.
        await self._from_app.put(dict(event))

    async def _next(self, timeout_s: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self._from_app.get(), timeout_s)

    async def send_json(self, frame: Any) -> None:
        """Send ``frame`` to the server as a JSON text frame."""
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(frame)})

    async def receive_json(self, timeout_s: float = 5.0) -> Any:
        """The next frame the server sent, decoded."""
        event = await self._next(timeout_s)
        if event["type"] == "websocket.close":
            raise ConnectionClosed(event.get("code", 1000))
        return json.loads(event.get("text") or event["bytes"])

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        if self._task is not None:
            await asyncio.wait_for(self._task, 5.0)


class ConnectionClosed(Exception):
    """The server closed the socket (or refused it) with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code
