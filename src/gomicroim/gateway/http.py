"""The ``/ws`` route."""

from __future__ import annotations

from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from gomicroim.gateway.service import Gateway


@websocket("/ws")
async def ws_endpoint(socket: WebSocket[Any, Any, Any], gateway: NamedDependency[Gateway]) -> None:
    """WebSocket for pushes; token in ``?token=`` or ``Authorization: Bearer``."""
    await gateway.serve(socket)
