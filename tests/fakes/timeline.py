"""Fake of timeline's ``TimelineStore``: per-user entry lists and cursors in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage, TimelineEntry


@dataclass
class _Timeline:
    last_seq: int = 0
    entries: list[TimelineEntry] = field(default_factory=list)
    # (conversation_id, seq) -> user seq, for idempotent appends
    held: dict[tuple[str, int], int] = field(default_factory=dict)


class MemoryTimelineStore:
    """``TimelineStore`` in dicts. No method awaits, so each call is atomic on the event loop.

    ``fail_next`` makes the next ``prune`` calls raise it (one call per queued exception).
    ``prune_calls`` records every ``older_than_ms`` asked for; ``wait_for_prunes`` waits for
    a number of them.
    """

    def __init__(self) -> None:
        self._timelines: dict[int, _Timeline] = {}
        self.fail_next: list[Exception] = []
        self.prune_calls: list[int] = []
        self._pruned = asyncio.Event()

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        """Next user seq for each user who does not hold (conversation_id, seq) yet."""
        key = (message.conversation_id, message.seq)
        seqs: dict[int, int] = {}
        for user_id in sorted(user_ids):
            timeline = self._timelines.setdefault(user_id, _Timeline())
            if key not in timeline.held:
                timeline.last_seq += 1
                timeline.held[key] = timeline.last_seq
                timeline.entries.append(TimelineEntry(user_seq=timeline.last_seq, message=message))
            seqs[user_id] = timeline.held[key]
        return seqs

    async def append_many(self, items: list[tuple[MessageRead, set[int]]]) -> list[dict[int, int]]:
        """Each item as :meth:`append`, in order."""
        return [await self.append(message, users) for message, users in items]

    async def sync(self, user_id: int, after: int, limit: int) -> SyncPage:
        """Up to ``limit`` entries above ``after``, ascending."""
        timeline = self._timelines.get(user_id, _Timeline())
        later = [e for e in timeline.entries if e.user_seq > after]
        return SyncPage(
            entries=later[: max(limit, 0)],
            latest_seq=timeline.last_seq,
            has_more=len(later) > limit,
        )

    async def latest_seq(self, user_id: int) -> int:
        """The user's cursor."""
        timeline = self._timelines.get(user_id)
        return 0 if timeline is None else timeline.last_seq

    async def prune(self, older_than_ms: int) -> int:
        """Drop entries of messages created before ``older_than_ms``; keep the cursors."""
        self.prune_calls.append(older_than_ms)
        self._pruned.set()
        if self.fail_next:
            raise self.fail_next.pop(0)
        deleted = 0
        for timeline in self._timelines.values():
            kept = [e for e in timeline.entries if e.message.created_at >= older_than_ms]
            deleted += len(timeline.entries) - len(kept)
            gone = {(e.message.conversation_id, e.message.seq) for e in timeline.entries} - {
                (e.message.conversation_id, e.message.seq) for e in kept
            }
            for key in gone:
                del timeline.held[key]
            timeline.entries = kept
        return deleted

    async def wait_for_prunes(self, count: int, timeout_s: float = 5) -> None:
        """Return once ``prune`` has been called ``count`` times in all."""
        async with asyncio.timeout(timeout_s):
            while len(self.prune_calls) < count:
                self._pruned.clear()
                await self._pruned.wait()
