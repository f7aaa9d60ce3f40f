"""Outbox relay: moves committed-message events from the outbox table to the bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gomicroim.clock import Clock, now_ms
from gomicroim.modules.chat.ports import CommittedPublisher, OutboxStore

log = logging.getLogger("gomicroim.relay")


class OutboxRelay:
    """Publishes pending outbox records in commit order, then marks them.

    A record is marked only after the bus has taken it, so a crash between commit and publish
    (or between publish and mark) replays it on the next start: delivery is at least once, and
    every consumer deduplicates by (conversation, seq).
    """

    def __init__(
        self,
        *,
        store: OutboxStore,
        publisher: CommittedPublisher,
        batch_size: int,
        retention_ms: int,
        poll_interval_s: float = 1.0,
        clock: Clock = now_ms,
    ):
        self._store = store
        self._publisher = publisher
        self._batch_size = batch_size
        self._retention_ms = retention_ms
        self._poll_interval_s = poll_interval_s
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0

    def wake(self) -> None:
        """A send committed: relay soon."""
        self._wakeup.set()

    async def drain(self) -> int:
        """Relay everything pending now; return how many records went."""
        total = 0
        while True:
            records = await self._store.pending(self._batch_size)
            if not records:
                return total
            await self._publisher.publish([r.event for r in records])
            await self._store.mark_published([r.id for r in records], self._clock())
            total += len(records)
            if len(records) < self._batch_size:
                return total

    async def run(self) -> None:
        """Relay until cancelled; errors are logged and retried, never fatal."""
        while True:
            self._wakeup.clear()
            try:
                await self.drain()
                await self._prune_now_and_then()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(self._poll_interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval_s)

    def start(self) -> None:
        """Start the relay task; pending records from before a crash go first."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self, timeout_s: float) -> None:
        """Flush what is pending (bounded by ``timeout_s``), then stop the task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            flushed = await asyncio.wait_for(self.drain(), timeout_s)
            log.info("outbox relay flushed", extra={"records": flushed})
        except Exception:
            log.warning("outbox relay flush incomplete; the rest goes out on next start")

    async def _prune_now_and_then(self) -> None:
        now = self._clock()
        if now - self._last_prune < 60_000:
            return
        self._last_prune = now
        pruned = await self._store.prune(now - self._retention_ms)
        if pruned:
            log.info("outbox pruned", extra={"records": pruned})
