"""In-process broadcast of the embedded shape: every subscriber hears every event, in order.

A cluster replaces it with a broker-backed adapter of the same shape (Redis pub/sub), so that
an event published on one node reaches the subscribers on all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("gomicroim.broadcast")


class LocalBroadcast(Generic[T]):
    """Fan one event out to the subscribers of this process.

    ``publish`` returns once every subscriber has handled the event, so a caller knows the
    event took effect here before it answers. One failing subscriber is logged and does not
    keep the event from the others.
    """

    def __init__(self, name: str):
        self.name = name
        self._handlers: list[Callable[[T], Awaitable[None]]] = []

    def subscribe(self, handler: Callable[[T], Awaitable[None]]) -> None:
        """Call ``handler`` for every event published from now on."""
        self._handlers.append(handler)

    async def publish(self, event: T) -> None:
        """Hand ``event`` to each subscriber in turn."""
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                log.exception("broadcast subscriber failed", extra={"topic": self.name})

    def on_gap(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Events in process are never missed: ``handler`` is never called."""
