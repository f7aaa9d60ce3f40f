"""The upgrade request of ``/ws``: where its token and address are, and how to refuse it."""

from __future__ import annotations

import math
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
    await refuse(socket, 429, "too_many_connections", message, RETRY_AFTER_S, frames.CLOSE_TOO_MANY)


async def refuse_unavailable(
    socket: WebSocket[Any, Any, Any], message: str, retry_after_s: float
) -> None:
    """Answer the upgrade with 503 ``unavailable`` (an engine the gateway needs is down).

    Without the denial extension: a close with 1013 (try again later) before any data.
    """
    retry = max(1, math.ceil(retry_after_s))
    await refuse(socket, 503, "unavailable", message, retry, frames.CLOSE_TRY_AGAIN_LATER)


async def refuse(
    socket: WebSocket[Any, Any, Any],
    status: int,
    code: str,
    message: str,
    retry_after_s: int,
    close_code: int,
) -> None:
    """Answer the upgrade with ``status``, ``Retry-After`` and the error JSON, not accepting."""
    body = msgspec.json.encode({"error": {"code": code, "message": message}})
    if _HTTP_RESPONSE not in (socket.scope.get("extensions") or {}):
        await socket.accept()
        await socket.close(close_code, code)
        return
    await socket.receive()  # websocket.connect
    start: WebSocketResponseStartEvent = {
        "type": "websocket.http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"retry-after", str(retry_after_s).encode()),
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
