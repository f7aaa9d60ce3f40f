"""Outbox relay: moves committed-message events from the outbox table to the bus."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Literal

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Unavailable
from gomicroim.infra.tasks import stop_tasks
from gomicroim.modules.chat.contract import MessageCommitted
from gomicroim.modules.chat.ports import CommittedPublisher, OutboxStore, RelayMetrics

log = logging.getLogger("gomicroim.relay")

ScanKind = Literal["full", "stale"]


class OutboxRelay:
    """Publishes committed-message events in commit order, then marks their outbox rows.

    Two paths, one guarantee. The store hands this node's commits over in memory
    (:meth:`submit`, called by the group committer after each commit) and they are published
    at once, without reading the table back. The table is the truth for everything else:

    * a full scan at start, after a failed publish and after the in-memory buffer overflowed
      (bounded by ``max_buffer``) publishes every row this node owns or whose claim expired;
    * a stale scan every ``stale_ms / 2`` publishes rows unpublished for longer than
      ``stale_ms``: a crashed replica's rows once their claim runs out, or this node's own if a
      handover was lost.

    Rows are written claimed by the committing node for ``stale_ms`` (the lease); the relay
    renews its claims while it is behind, so in the normal case no two replicas publish one
    row. Rows are marked only after the bus has taken them (marks are coalesced into one
    statement every ``mark_interval_s``), so delivery is at least once: a crash between publish
    and mark, or a claim that expired while its owner was still alive, repeats an event, and
    every consumer deduplicates by (conversation, seq).
    """

    def __init__(
        self,
        *,
        store: OutboxStore,
        publisher: CommittedPublisher,
        owner: str,
        batch_size: int,
        retention_ms: int,
        stale_ms: int = 5000,
        max_buffer: int = 10_000,
        poll_interval_s: float = 1.0,
        mark_interval_s: float = 0.2,
        metrics: RelayMetrics | None = None,
        clock: Clock = now_ms,
    ):
        self._store = store
        self._publisher = publisher
        self._owner = owner
        self._batch_size = batch_size
        self._retention_ms = retention_ms
        self._stale_ms = stale_ms
        self._max_buffer = max_buffer
        self._poll_interval_s = poll_interval_s
        self._mark_interval_s = mark_interval_s
        self._metrics = metrics
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0
        self._fresh: list[MessageCommitted] = []
        self._unmarked: list[tuple[str, int]] = []
        self._last_mark = time.monotonic()
        self._scan_needed = True
        self._overflowing = False
        self._last_stale_scan = clock()
        self._last_renew = clock()
        if metrics is not None:
            metrics.watch_outbox_backlog(lambda: len(self._fresh))

    def submit(self, events: Sequence[MessageCommitted]) -> None:
        """Sends committed in this process, in commit order: publish them soon."""
        if len(self._fresh) + len(events) > self._max_buffer:
            dropped = len(self._fresh) + len(events)
            # Drop the whole buffer, not just the newest: the full scan then publishes every
            # row in commit order, and nothing it publishes is still queued here.
            self._fresh = []
            self._scan_needed = True
            if self._metrics is not None:
                self._metrics.relay_buffer_overflowed(dropped)
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "outbox relay buffer full; publishing from the table until it catches up",
                    extra={"dropped": dropped, "max_buffer": self._max_buffer},
                )
        else:
            self._fresh.extend(events)
        self._wakeup.set()

    async def drain(self) -> int:
        """Publish everything pending now; return how many events went."""
        total = 0
        await self._renew_while_behind()
        if self._scan_needed:
            total += await self._scan("full")
        elif self._clock() - self._last_stale_scan >= self._stale_ms // 2:
            total += await self._scan("stale")
        while self._fresh:
            batch = self._fresh[: self._batch_size]
            del self._fresh[: self._batch_size]
            try:
                await self._publisher.publish(batch)
            except BaseException:
                # Failed or cancelled: the rows are still unmarked and ours, and the full scan
                # publishes them, in order.
                self._scan_needed = True
                raise
            self._unmarked.extend((e.message.conversation_id, e.message.seq) for e in batch)
            total += len(batch)
        return total

    async def _scan(self, kind: ScanKind) -> int:
        """Claim and publish table rows: all we may take (full) or only stale ones."""
        # Published but unmarked rows would otherwise be claimed and published again.
        await self.flush_marks()
        started = self._clock()
        created_before = None if kind == "full" else started - self._stale_ms
        total = 0
        scanned: set[tuple[str, int]] = set()
        while True:
            records = await self._store.claim(
                self._owner,
                now_ms=self._clock(),
                lease_ms=self._stale_ms,
                created_before_ms=created_before,
                limit=self._batch_size,
            )
            if not records:
                break
            await self._publisher.publish([r.event for r in records])
            await self._store.mark_published([r.id for r in records], self._clock())
            scanned.update((r.event.message.conversation_id, r.event.message.seq) for r in records)
            total += len(records)
            if len(records) < self._batch_size:
                break
        self._last_stale_scan = started
        if kind == "full":
            self._scan_needed = False
            self._overflowing = False
        # Sends submitted while scanning may already have gone out with the scan.
        self._fresh = [
            e for e in self._fresh if (e.message.conversation_id, e.message.seq) not in scanned
        ]
        if total:
            if self._metrics is not None:
                self._metrics.relay_scanned(kind, total)
            if kind == "stale":
                log.info("stale outbox rows published", extra={"records": total})
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

    async def _renew_while_behind(self) -> None:
        """Keep this node's claims while its buffer holds events older than a third of the lease.

        Otherwise another replica's stale scan would take rows this node is about to publish.
        """
        if not self._fresh:
            return
        now = self._clock()
        third = self._stale_ms // 3
        if now - self._fresh[0].message.created_at < third or now - self._last_renew < third:
            return
        self._last_renew = now
        await self._store.renew(self._owner, now_ms=now, lease_ms=self._stale_ms)

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
            except Unavailable as exc:
                # An engine outage is expected and reported by its adapter: no traceback.
                log.warning(
                    "outbox relay waits for the bus; retrying", extra={"reason": exc.message}
                )
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(self._poll_interval_s)
            timeout = self._mark_interval_s if self._unmarked else self._poll_interval_s
            timeout = min(timeout, self._stale_ms / 2000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def start(self) -> None:
        """Start the relay task; pending records from before a crash go first."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self, timeout_s: float) -> None:
        """Flush what is pending (bounded by ``timeout_s``), then stop the task."""
        if self._task is not None:
            await stop_tasks(self._task)
            self._task = None
        try:
            flushed = await asyncio.wait_for(self.drain(), timeout_s)
            await self.flush_marks()
            log.info("outbox relay flushed", extra={"records": flushed})
        except Exception:
            log.warning(
                "outbox relay flush incomplete; the rest goes out on next start", exc_info=True
            )

    async def _prune_now_and_then(self) -> None:
        now = self._clock()
        if now - self._last_prune < 60_000:
            return
        self._last_prune = now
        pruned = await self._store.prune(now - self._retention_ms)
        if pruned:
            log.info("outbox pruned", extra={"records": pruned})
