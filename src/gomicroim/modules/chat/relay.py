"""Outbox relay: moves committed-message events from the outbox table to the bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from gomicroim.clock import Clock, now_ms
from gomicroim.modules.chat.contract import MessageCommitted
from gomicroim.modules.chat.ports import CommittedPublisher, OutboxMetrics, OutboxStore

log = logging.getLogger("gomicroim.relay")


class OutboxRelay:
    """Publishes committed-message events in commit order, then marks their outbox rows.

    Two paths, one guarantee. Sends committed by this process are handed over in memory
    (:meth:`submit`) and published at once, without reading the table back. The table is
    scanned at start and after any failed publish, so whatever a crash or an error left
    unpublished goes out again. Rows are marked only after the bus has taken them (marks are
    coalesced into one statement every ``mark_interval_s``), so delivery is at least once and
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
        mark_interval_s: float = 0.2,
        clock: Clock = now_ms,
        metrics: OutboxMetrics | None = None,
    ):
        self._store = store
        self._publisher = publisher
        self._batch_size = batch_size
        self._retention_ms = retention_ms
        self._poll_interval_s = poll_interval_s
        self._mark_interval_s = mark_interval_s
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0
        self._fresh: list[MessageCommitted] = []
        self._unmarked: list[tuple[str, int]] = []
        self._last_mark = time.monotonic()
        self._scan_needed = True
        if metrics is not None:
            metrics.watch_outbox_backlog(lambda: len(self._fresh))

    def submit(self, event: MessageCommitted) -> None:
        """A send committed in this process: publish it soon."""
        self._fresh.append(event)
        self._wakeup.set()

    async def drain(self) -> int:
        """Publish everything pending now; return how many events went."""
        total = 0
        if self._scan_needed:
            total += await self._drain_table()
        while self._fresh:
            batch = self._fresh[: self._batch_size]
            del self._fresh[: self._batch_size]
            try:
                await self._publisher.publish(batch)
            except Exception:
                # The rows are still unmarked: the table scan publishes them, in order.
                self._scan_needed = True
                raise
            self._unmarked.extend((e.message.conversation_id, e.message.seq) for e in batch)
            total += len(batch)
        return total

    async def _drain_table(self) -> int:
        total = 0
        scanned: set[tuple[str, int]] = set()
        while True:
            records = await self._store.pending(self._batch_size)
            if not records:
                break
            await self._publisher.publish([r.event for r in records])
            await self._store.mark_published([r.id for r in records], self._clock())
            scanned.update((r.event.message.conversation_id, r.event.message.seq) for r in records)
            total += len(records)
            if len(records) < self._batch_size:
                break
        self._scan_needed = False
        # Sends submitted while scanning may already have gone out with the scan.
        self._fresh = [
            e for e in self._fresh if (e.message.conversation_id, e.message.seq) not in scanned
        ]
        return total

    async def flush_marks(self) -> None:
        """Mark what was published since the last mark."""
        if not self._unmarked:
            return
        keys, self._unmarked = self._unmarked, []
        self._last_mark = time.monotonic()
        try:
            await self._store.mark_published_keys(keys, self._clock())
        except Exception:
            self._unmarked = keys + self._unmarked
            raise

    async def run(self) -> None:
        """Relay until cancelled; errors are logged and retried, never fatal."""
        while True:
            self._wakeup.clear()
            try:
                await self.drain()
                if time.monotonic() - self._last_mark >= self._mark_interval_s:
                    await self.flush_marks()
                await self._prune_now_and_then()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(self._poll_interval_s)
            timeout = self._mark_interval_s if self._unmarked else self._poll_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

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
            await self.flush_marks()
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
