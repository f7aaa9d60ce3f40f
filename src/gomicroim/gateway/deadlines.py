"""Idle timeouts and token expiries of every socket, enforced by one task per node.

A timer per socket (an ``asyncio.timeout`` around every read, a timer handle for the expiry)
costs about 1 KiB for each idle socket and a timer-heap operation for every frame read. A scan
of the node's sockets every ``tick_s`` costs well under a millisecond per thousand sockets,
and a deadline is met no more than ``tick_s`` late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from gomicroim.gateway.connection import Connection

log = logging.getLogger("gomicroim.gateway")

#: The longest a socket stays open past its idle timeout or its token's expiry.
MAX_TICK_S = 0.5


class DeadlineSweeper:
    """Runs while the node holds sockets; closes those past a deadline (see Connection)."""

    def __init__(self, connections: Iterable[Connection], *, idle_timeout_s: float):
        self._connections = connections
        self._idle_timeout_s = idle_timeout_s
        self.tick_s = min(MAX_TICK_S, idle_timeout_s / 4)
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start the sweep if it is not running (it stops when no socket is left)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._sweep(), name="gateway-deadlines"
            )

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(self.tick_s)
                now = loop.time()
                held = 0
                for connection in self._connections:
                    held += 1
                    connection.enforce_deadlines(now, self._idle_timeout_s)
                if not held:
                    return
        except Exception:
            # A sweep that dies would leave every later socket without its timeouts.
            log.exception("socket deadline sweep failed; restarting it")
            loop.call_later(self.tick_s, self.ensure_running)
        finally:
            self._task = None

    async def stop(self) -> None:
        """Stop sweeping (the node is shutting down)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
