"""Fake of chat's ``OutboxStore`` and a recording committed-message publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from gomicroim.modules.chat.contract import MessageCommitted
from gomicroim.modules.chat.ports import OutboxRecord


@dataclass
class _Claim:
    owner: str
    until: int


class MemoryOutboxStore:
    """Outbox rows in a list; ``published`` maps id to the time it was marked.

    No method awaits, so each call is atomic on the event loop, as the SQL adapter's claim is
    atomic per row.
    """

    def __init__(self) -> None:
        self.records: list[OutboxRecord] = []
        self.published: dict[int, int] = {}
        self._claims: dict[int, _Claim] = {}
        self._created: dict[int, int] = {}
        self._next_id = 1

    def add(self, event: MessageCommitted, *, owner: str = "", lease_ms: int = 0) -> None:
        """What the send transaction does: append a record claimed by ``owner`` for a lease."""
        record = OutboxRecord(id=self._next_id, event=event)
        self._next_id += 1
        self.records.append(record)
        created = event.message.created_at
        self._created[record.id] = created
        self._claims[record.id] = _Claim(owner, created + lease_ms)

    def unpublished(self) -> list[OutboxRecord]:
        """Records not marked yet, in id order (for assertions)."""
        return [r for r in self.records if r.id not in self.published]

    async def claim(
        self, owner: str, *, now_ms: int, lease_ms: int, created_before_ms: int | None, limit: int
    ) -> list[OutboxRecord]:
        """Claim unpublished records that are ``owner``'s or free, oldest first."""
        taken: list[OutboxRecord] = []
        for record in self.unpublished():
            if len(taken) == limit:
                break
            claim = self._claims[record.id]
            if claim.owner != owner and claim.until > now_ms:
                continue
            if created_before_ms is not None and self._created[record.id] >= created_before_ms:
                continue
            self._claims[record.id] = _Claim(owner, now_ms + lease_ms)
            taken.append(record)
        return taken

    async def renew(self, owner: str, *, now_ms: int, lease_ms: int) -> int:
        """Extend ``owner``'s claims on unpublished records."""
        held = [r.id for r in self.unpublished() if self._claims[r.id].owner == owner]
        for record_id in held:
            self._claims[record_id] = _Claim(owner, now_ms + lease_ms)
        return len(held)

    async def mark_published(self, ids: list[int], now_ms: int) -> None:
        """Mark relayed records."""
        for record_id in ids:
            self.published.setdefault(record_id, now_ms)

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
            del self._claims[record_id]
            del self._created[record_id]
        return len(old)


class RecordingPublisher:
    """Collects what the relay publishes; can be told to fail the next calls or to hold them.

    ``gate``, when set, must be open (set) for a publish to complete, so a test can keep a
    relay busy. ``failures`` makes that many calls raise first.
    """

    def __init__(self) -> None:
        self.published: list[MessageCommitted] = []
        self.failures = 0
        self.gate: asyncio.Event | None = None

    async def publish(self, items: Sequence[MessageCommitted]) -> None:
        """Record ``items`` or raise while ``failures`` is positive."""
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("bus down")
        self.published.extend(items)

    def published_keys(self) -> list[tuple[str, int]]:
        """(conversation_id, seq) of everything published, in publish order."""
        return [(e.message.conversation_id, e.message.seq) for e in self.published]
