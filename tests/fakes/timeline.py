"""Fake of timeline's ``TimelineStore``: per-user entry lists and cursors in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage, TimelineEntry, entry_kind


@dataclass
class _Timeline:
    last_seq: int = 0
    entries: list[TimelineEntry] = field(default_factory=list)
    # (conversation_id, seq, revision) -> user seq, for idempotent appends
    held: dict[tuple[str, int, int], int] = field(default_factory=dict)


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
        """Next user seq for each user who does not hold (conversation_id, seq, revision) yet.

        A later revision also rewrites the user's older entries of the message.
        """
        key = (message.conversation_id, message.seq, message.revision)
        seqs: dict[int, int] = {}
        for user_id in sorted(user_ids):
            timeline = self._timelines.setdefault(user_id, _Timeline())
            if key not in timeline.held:
                timeline.last_seq += 1
                timeline.held[key] = timeline.last_seq
                timeline.entries = [
                    _rewritten(e, message) if _older_of(e, message) else e for e in timeline.entries
                ]
                kind = entry_kind(message.revision, message)
                timeline.entries.append(
                    TimelineEntry(user_seq=timeline.last_seq, message=message, kind=kind)
                )
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

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Drop the user's entries of one message."""
        timeline = self._timelines.get(user_id)
        if timeline is None:
            return 0
        kept = [
            e
            for e in timeline.entries
            if (e.message.conversation_id, e.message.seq) != (conversation_id, seq)
        ]
        gone = len(timeline.entries) - len(kept)
        timeline.entries = kept
        return gone

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
            gone = {_key(e.message) for e in timeline.entries} - {_key(e.message) for e in kept}
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


def _key(message: MessageRead) -> tuple[str, int, int]:
    return (message.conversation_id, message.seq, message.revision)


def _older_of(entry: TimelineEntry, message: MessageRead) -> bool:
    m = entry.message
    return (m.conversation_id, m.seq) == (message.conversation_id, message.seq) and (
        m.revision < message.revision
    )


def _rewritten(entry: TimelineEntry, message: MessageRead) -> TimelineEntry:
    return TimelineEntry(user_seq=entry.user_seq, message=message, kind=entry.kind)
