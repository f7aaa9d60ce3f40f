"""Fake of chat's ``OutboxStore`` and a recording committed-message publisher."""

from __future__ import annotations

from gomicroim.modules.chat.contract import MessageCommitted
from gomicroim.modules.chat.ports import OutboxRecord


class MemoryOutboxStore:
    """Outbox rows in a list; ``published`` maps id to the time it was marked."""

    def __init__(self) -> None:
        self.records: list[OutboxRecord] = []
        self.published: dict[int, int] = {}

    def add(self, event: MessageCommitted) -> None:
        """What the send transaction does: append an unpublished record."""
        self.records.append(OutboxRecord(id=len(self.records) + 1, event=event))

    async def pending(self, limit: int) -> list[OutboxRecord]:
        """Unpublished records in id order."""
        return [r for r in self.records if r.id not in self.published][:limit]

    async def mark_published(self, ids: list[int], now_ms: int) -> None:
        """Mark relayed records."""
        for record_id in ids:
            self.published[record_id] = now_ms

    async def mark_published_keys(self, keys: list[tuple[str, int]], now_ms: int) -> None:
        """Mark relayed records by (conversation_id, seq)."""
        wanted = set(keys)
        for record in self.records:
            key = (record.event.message.conversation_id, record.event.message.seq)
            if key in wanted and record.id not in self.published:
                self.published[record.id] = now_ms

    async def prune(self, published_before_ms: int) -> int:
        """Drop old relayed records."""
        old = {i for i, at in self.published.items() if at < published_before_ms}
        self.records = [r for r in self.records if r.id not in old]
        for record_id in old:
            del self.published[record_id]
        return len(old)


class RecordingPublisher:
    """Collects what the relay publishes; can be told to fail the next calls."""

    def __init__(self) -> None:
        self.published: list[MessageCommitted] = []
        self.failures = 0

    async def publish(self, items: list[MessageCommitted]) -> None:
        """Record ``items`` or raise while ``failures`` is positive."""
        if self.failures:
            self.failures -= 1
            raise ConnectionError("bus down")
        self.published.extend(items)
