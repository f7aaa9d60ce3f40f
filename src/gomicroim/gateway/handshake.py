"""The upgrade request of ``/ws``: where its token and address are, and how to refuse it."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.connection import WebSocket
from litestar.types import WebSocketResponseBodyEvent, WebSocketResponseStartEvent

from gomicroim.gateway import frames
from gomicroim.modules.identity.contract import bearer_token

#: Seconds a refused client should wait: a slot frees only when another socket of it closes.
RETRY_AFTER_S = 10

#: The ASGI extension that lets an app answer a WebSocket upgrade with a plain HTTP response.
_HTTP_RESPONSE = "websocket.http.response"


def access_token(socket: WebSocket[Any, Any, Any]) -> str | None:
    """The token of ``?token=`` or of an ``Authorization: Bearer`` header."""
    token = socket.query_params.get("token")
    if token:
        return str(token)
    return bearer_token(socket.headers.get("authorization"))


def client_ip(socket: WebSocket[Any, Any, Any]) -> str:
    """The client's address (the proxy's ``X-Forwarded-For`` one when uvicorn trusts it)."""
    client = socket.client
    return client.host if client is not None else "unknown"


async def refuse_too_many(socket: WebSocket[Any, Any, Any], message: str) -> None:
    """Answer the upgrade with 429, ``Retry-After`` and the error JSON, without accepting.

    Servers without the ASGI WebSocket denial extension get a close with 4429 before any data.
    """
    body = msgspec.json.encode({"error": {"code": "too_many_connections", "message": message}})
    if _HTTP_RESPONSE not in (socket.scope.get("extensions") or {}):
        await socket.accept()
        await socket.close(frames.CLOSE_TOO_MANY, "too_many_connections")
        return
    await socket.receive()  # websocket.connect
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/json"),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await socket.send(start)
    end: WebSocketResponseBodyEvent = {
        "type": "websocket.http.response.body",
        "body": body,
        "more_body": False,
    }
    await socket.send(end)
