"""The in-process bus of the embedded shape: bounded queues whose publish waits for handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Handler = Callable[[list[T]], Awaitable[None]]

log = logging.getLogger("gomicroim.bus")

_Waiter = asyncio.Future[None] | None


class ConsumerGone(ConnectionError):
    """No consumer handles the topic any more; the publisher keeps its items and retries."""


class InProcessTopic(Generic[T]):
    """A topic with one consumer in the same process, holding at most ``max_batches``.

    ``publish`` resolves only after the consumer's handler has finished with the items, which
    is what "durably published" means without a broker: a caller that marks records as sent
    after ``publish`` returns never loses one to a crash. A ``lossy`` topic is for hints (read
    events): its ``publish`` only queues, and drops the items when the queue is full.

    ``publish`` never waits forever: when the consumer stops (cancelled, or killed by an error
    its supervisor restarts it from), the batch it was handling and every batch still queued
    fail with :class:`ConsumerGone`, and so does every publish until a consumer runs again.
    A publish that failed or was cancelled is not handled later, so a publisher that retries
    does not make a duplicate.
    """

    def __init__(
        self,
        name: str,
        *,
        max_batches: int = 1024,
        lossy: bool = False,
        on_drop: Callable[[str, int], None] | None = None,
    ):
        self.name = name
        self._lossy = lossy
        self._on_drop = on_drop
        self._queue: asyncio.Queue[tuple[list[T], _Waiter]] = asyncio.Queue(max_batches)
        self._consumers = 0
        # A consumer ran and none runs now; before the first one starts, publishes just queue.
        self._abandoned = False

    async def publish(self, items: list[T]) -> None:
        """Hand ``items`` to the consumer; wait until it has handled them unless ``lossy``.

        Raises:
            ConsumerGone: the consumer stopped before it handled the items.
            Exception: whatever the consumer's handler raised for them.
        """
        if not items:
            return
        if self._lossy:
            self._offer(items)
            return
        self._require_consumer()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((items, done))
        if self._abandoned and not done.done():
            # The last consumer stopped while this publish waited for room in the queue.
            done.set_exception(self._gone())
        await done

    def _offer(self, items: list[T]) -> None:
        try:
            self._queue.put_nowait((items, None))
        except asyncio.QueueFull:
            log.warning("bus topic full, dropping", extra={"topic": self.name})
            if self._on_drop is not None:
                self._on_drop(self.name, len(items))

    @property
    def queued(self) -> int:
        """Batches waiting for the consumer now."""
        return self._queue.qsize()

    def _require_consumer(self) -> None:
        if self._abandoned:
            raise self._gone()

    def _gone(self) -> ConsumerGone:
        return ConsumerGone(f"the consumer of bus topic {self.name!r} stopped; retry later")

    async def consume(self, handler: Handler[T]) -> None:
        """Feed batches to ``handler`` until cancelled; a failing batch fails its own publishers."""
        self._consumers += 1
        self._abandoned = False
        waiters: list[_Waiter] = []
        try:
            while True:
                items, done = await self._queue.get()
                # Merge what else is waiting so a busy consumer works in larger batches.
                merged: list[T] = []
                waiters = []
                _take(items, done, merged, waiters)
                while not self._queue.empty() and len(merged) < 1000:
                    _take(*self._queue.get_nowait(), merged, waiters)
                if not merged:
                    continue
                try:
                    await handler(merged)
                except Exception as exc:
                    log.exception("bus handler failed", extra={"topic": self.name})
                    _settle(waiters, exc)
                    waiters = []
                    continue
                _settle(waiters, None)
                waiters = []
        finally:
            self._consumers -= 1
            _settle(waiters, self._gone())
            if self._consumers == 0:
                self._abandoned = True
                while not self._queue.empty():
                    _, done = self._queue.get_nowait()
                    _settle([done], self._gone())


def _take(items: list[T], done: _Waiter, merged: list[T], waiters: list[_Waiter]) -> None:
    """Add a queued batch to the one being handled, unless its publisher gave up on it."""
    if done is not None and done.done():
        return
    merged.extend(items)
    waiters.append(done)


def _settle(waiters: list[_Waiter], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter is None or waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
