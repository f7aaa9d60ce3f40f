"""Fake of the MongoDB timeline store's collection layer: cursor and entry documents in dicts.

It keeps the promises the store relies on from MongoDB and nothing more: each operation is
atomic per document, the unique indexes on (user, user_seq) and (user, conversation, seq)
refuse a second insert, and there are no transactions. Every operation yields to the event
loop first, as a network round trip would, so concurrent appends interleave between them.

``gate`` runs before an insert touches anything (to hold an append between taking its seqs
and writing them); ``fail_next_insert`` makes the next insert raise, the way a dropped
connection would after the seqs were taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from gomicroim.modules.timeline.storage.mongo.highwater import CursorState, Pending
from gomicroim.modules.timeline.storage.mongo.layer import EntryRow, InsertOutcome

T = TypeVar("T")


@dataclass
class _Cursor:
    last_seq: int = 0
    pending: list[Pending] = field(default_factory=list)


@dataclass
class _Slot:
    created_at: int
    #: None for a tombstone
    row: EntryRow | None


class MemoryTimelineCollections:
    """``TimelineCollections`` in memory; see the module docstring."""

    transactions = False

    def __init__(self) -> None:
        self.cursors: dict[int, _Cursor] = {}
        self.slots: dict[tuple[int, int], _Slot] = {}
        self.messages: dict[tuple[int, str, int], int] = {}
        self.gate: Callable[[Sequence[EntryRow]], Awaitable[None]] | None = None
        self.fail_next_insert: Exception | None = None

    async def in_transaction(self, work: Callable[[Any], Awaitable[T]]) -> T:
        raise NotImplementedError("the fake has no transactions, like a standalone server")

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        yield None

    def reading(self) -> AbstractAsyncContextManager[None]:
        return self._session()

    async def held(
        self, users: Sequence[int], conversations: Sequence[str], seqs: Sequence[int], s: Any
    ) -> dict[tuple[int, str, int], int]:
        await asyncio.sleep(0)
        return {
            (u, c, q): self.messages[(u, c, q)]
            for u in users
            for c in conversations
            for q in seqs
            if (u, c, q) in self.messages
        }

    async def ensure_cursors(self, users: Sequence[int]) -> None:
        await asyncio.sleep(0)
        for user in users:
            self.cursors.setdefault(user, _Cursor())

    async def allocate(
        self, users: Sequence[int], count: int, pending: Pending | None, s: Any
    ) -> dict[int, int]:
        await asyncio.sleep(0)
        last = {}
        for user in users:
            cursor = self.cursors.get(user)
            if cursor is None:
                continue
            lo = cursor.last_seq + 1
            cursor.last_seq += count
            if pending is not None:
                cursor.pending.append(replace(pending, lo=lo, hi=cursor.last_seq))
            last[user] = cursor.last_seq
        return last

    async def insert(self, rows: Sequence[EntryRow], s: Any) -> InsertOutcome:
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate(rows)
        if self.fail_next_insert is not None:
            error, self.fail_next_insert = self.fail_next_insert, None
            raise error
        outcome = InsertOutcome()
        for row in rows:
            message = (row.user_id, row.conversation_id, row.seq)
            slot = (row.user_id, row.user_seq)
            if slot in self.slots:
                outcome.fenced.add(slot)
            elif message in self.messages:
                outcome.duplicates.add(message)
            else:
                self.slots[slot] = _Slot(created_at=row.created_at, row=row)
                self.messages[message] = row.user_seq
        return outcome

    async def release(self, users: Sequence[int], token: str) -> None:
        await asyncio.sleep(0)
        for user in users:
            cursor = self.cursors.get(user)
            if cursor is not None:
                cursor.pending = [p for p in cursor.pending if p.token != token]

    async def cursor(self, user: int, s: Any) -> CursorState:
        await asyncio.sleep(0)
        cursor = self.cursors.get(user, _Cursor())
        return CursorState(last_seq=cursor.last_seq, pending=tuple(cursor.pending))

    async def fence(self, user: int, seqs: Sequence[int], now_ms: int, s: Any) -> None:
        await asyncio.sleep(0)
        for seq in seqs:
            self.slots.setdefault((user, seq), _Slot(created_at=now_ms, row=None))

    async def entries(
        self, user: int, after: int, upto: int, limit: int, s: Any
    ) -> list[tuple[int, str]]:
        await asyncio.sleep(0)
        found = sorted(
            (seq, slot.row.message)
            for (u, seq), slot in self.slots.items()
            if u == user and after < seq <= upto and slot.row is not None
        )
        return found[:limit]

    async def prune(self, older_than_ms: int) -> int:
        await asyncio.sleep(0)
        old = [key for key, slot in self.slots.items() if slot.created_at < older_than_ms]
        for key in old:
            row = self.slots.pop(key).row
            if row is not None:
                del self.messages[(row.user_id, row.conversation_id, row.seq)]
        return len(old)

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        await asyncio.sleep(0)
        gone = [
            key
            for key, slot in self.slots.items()
            if slot.row is not None
            and (slot.row.user_id, slot.row.conversation_id, slot.row.seq)
            == (user_id, conversation_id, seq)
        ]
        for key in gone:
            del self.slots[key]
        self.messages.pop((user_id, conversation_id, seq), None)
        return len(gone)

    def tombstones(self, user: int) -> list[int]:
        """The user's fenced slots, ascending (for tests)."""
        return sorted(seq for (u, seq), s in self.slots.items() if u == user and s.row is None)
