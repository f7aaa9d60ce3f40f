"""TimelineService: implements :class:`TimelineFacade` and expires old entries in the background."""

from __future__ import annotations

import asyncio
import logging
import time

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import InvalidInput
from gomicroim.infra.tasks import stop_tasks
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage
from gomicroim.modules.timeline.ports import TimelineStore

log = logging.getLogger("gomicroim.timeline")

_DAY_MS = 24 * 3600 * 1000


class TimelineService:
    """Per-user inboxes for write fan-out, and their expiry after ``retention_days``."""

    def __init__(
        self,
        *,
        store: TimelineStore,
        retention_days: float,
        prune_interval_s: float,
        max_sync_page: int,
        default_sync_page: int = 100,
        clock: Clock = now_ms,
    ):
        self._default_sync_page = default_sync_page
        self._store = store
        self._retention_ms = round(retention_days * _DAY_MS)
        self._prune_interval_s = prune_interval_s
        self._max_sync_page = max_sync_page
        self._clock = clock
        self._pruning: asyncio.Task[None] | None = None

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        """Append to each user's timeline; see :meth:`TimelineFacade.append`."""
        if not user_ids:
            return {}
        return await self._store.append(message, set(user_ids))

    async def append_many(self, items: list[tuple[MessageRead, set[int]]]) -> list[dict[int, int]]:
        """Append several messages; see :meth:`TimelineFacade.append_many`."""
        if not items:
            return []
        return await self._store.append_many(items)

    async def sync(self, user_id: int, after: int, limit: int | None = None) -> SyncPage:
        """A page of the user's timeline; see :meth:`TimelineFacade.sync`.

        ``limit`` defaults to ``timeline.default_sync_page``; ``has_more`` tells the rest.

        Raises:
            InvalidInput: ``invalid_field`` for a negative ``after`` or a ``limit`` outside
                1..``timeline.max_sync_page``.
        """
        if after < 0:
            raise InvalidInput("after must be 0 or a user seq", code="invalid_field", field="after")
        if limit is None:
            limit = min(self._default_sync_page, self._max_sync_page)
        if not 1 <= limit <= self._max_sync_page:
            raise InvalidInput(
                f"limit must be between 1 and {self._max_sync_page} (timeline.max_sync_page)",
                code="invalid_field",
                field="limit",
            )
        return await self._store.sync(user_id, after, limit)

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Drop the user's entries of one message; see :meth:`TimelineFacade.forget`."""
        return await self._store.forget(user_id, conversation_id, seq)

    async def latest_seq(self, user_id: int) -> int:
        """The user's highest user seq; see :meth:`TimelineFacade.latest_seq`."""
        return await self._store.latest_seq(user_id)

    async def prune(self, older_than_ms: int) -> int:
        """Delete old entries; see :meth:`TimelineFacade.prune`."""
        return await self._store.prune(older_than_ms)

    async def prune_expired(self) -> int:
        """Delete entries older than ``retention_days``; return how many went."""
        cutoff = self._clock() - self._retention_ms
        started = time.monotonic()
        deleted = await self._store.prune(cutoff)
        log.info(
            "timeline entries pruned",
            extra={
                "deleted": deleted,
                "older_than_ms": cutoff,
                "elapsed_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return deleted

    async def run_pruning(self) -> None:
        """Prune now and then every ``prune_interval_s`` until cancelled.

        A failed round (database down, lock timeout) is logged and tried again next round.
        """
        while True:
            try:
                await self.prune_expired()
            except Exception:
                log.exception(
                    "timeline pruning failed; retrying next round",
                    extra={"retry_in_s": self._prune_interval_s},
                )
            await asyncio.sleep(self._prune_interval_s)

    def start(self) -> None:
        """Start :meth:`run_pruning` as a background task (no-op when it runs already)."""
        if self._pruning is None or self._pruning.done():
            self._pruning = asyncio.create_task(self.run_pruning(), name="timeline-pruning")

    async def stop(self) -> None:
        """Cancel the pruning task and wait until it has stopped."""
        task, self._pruning = self._pruning, None
        if task is None:
            return
        await stop_tasks(task)
