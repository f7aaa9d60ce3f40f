"""The in-process bus of the embedded shape: bounded queues whose publish waits for handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Handler = Callable[[list[T]], Awaitable[None]]

log = logging.getLogger("gomicroim.bus")


class InProcessTopic(Generic[T]):
    """A topic with one consumer in the same process.

    ``publish`` resolves only after the consumer's handler has finished with the items, which is
    what "durably published" means without a broker: a caller that marks records as sent after
    ``publish`` returns never loses one to a crash. ``publish_nowait`` is for hints that may be
    lost (read events).
    """

    def __init__(self, name: str, *, max_batches: int = 1024):
        self.name = name
        self._queue: asyncio.Queue[tuple[list[T], asyncio.Future[None] | None]] = asyncio.Queue(
            max_batches
        )

    async def publish(self, items: list[T]) -> None:
        """Hand ``items`` to the consumer and wait until it has handled them."""
        if not items:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((items, done))
        await done

    def publish_nowait(self, items: list[T]) -> bool:
        """Queue ``items`` without waiting; False (and dropped) when the queue is full."""
        try:
            self._queue.put_nowait((items, None))
        except asyncio.QueueFull:
            log.warning("bus topic full, dropping", extra={"topic": self.name})
            return False
        return True

    async def consume(self, handler: Handler[T]) -> None:
        """Feed batches to ``handler`` forever; a failing batch fails its publishers only."""
        while True:
            items, done = await self._queue.get()
            # Merge what else is waiting so a busy consumer works in larger batches.
            merged, waiters = list(items), [done]
            while not self._queue.empty() and len(merged) < 1000:
                more, more_done = self._queue.get_nowait()
                merged.extend(more)
                waiters.append(more_done)
            try:
                await handler(merged)
            except Exception as exc:
                log.exception("bus handler failed", extra={"topic": self.name})
                for waiter in waiters:
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
