"""``MongoTimelineStore``: the timeline port on MongoDB, with or without transactions."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import msgspec

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Unavailable
from gomicroim.infra.mongo import unavailable_on_error
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage, TimelineEntry
from gomicroim.modules.timeline.storage.batch import Items, Results, answer, unique_messages
from gomicroim.modules.timeline.storage.mongo.highwater import (
    Pending,
    assign_slots,
    by_count,
    spans,
)
from gomicroim.modules.timeline.storage.mongo.layer import (
    EntryRow,
    InsertOutcome,
    Session,
    TimelineCollections,
)

log = logging.getLogger("gomicroim.timeline")

_encode = msgspec.json.Encoder().encode
_decode_message = msgspec.json.Decoder(MessageRead).decode


class _Retry(Exception):
    """A transaction met a concurrent append of the same message; abort it and run again."""


@dataclass
class _Round:
    """One attempt at the users of a batch that have no entry yet."""

    items: Items
    results: Results
    #: user → indexes of the batch's messages they still need, in batch order
    wanted: dict[int, list[int]]


class _MessageLocks:
    """Appends of the same message in this process wait for each other.

    Without it, two concurrent appends of one message would both take seqs and one would
    find the message stored by the other: on a standalone server its seqs could not be
    given back and would stay gaps; in a transaction it would abort and run again. Appends
    of one message from two processes are rare (a redelivery during a consumer rebalance)
    and stay correct without it: see the class docstring of :class:`MongoTimelineStore`.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, int], int] = {}

    @asynccontextmanager
    async def hold(self, keys: Iterable[tuple[str, int]]) -> AsyncIterator[None]:
        """Hold the locks of ``keys``, taken in sorted order so two batches cannot deadlock."""
        ordered = sorted(set(keys))
        counted: list[tuple[str, int]] = []
        held: list[asyncio.Lock] = []
        try:
            for key in ordered:
                self._waiting[key] = self._waiting.get(key, 0) + 1
                counted.append(key)
                lock = self._locks.setdefault(key, asyncio.Lock())
                await lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in reversed(held):
                lock.release()
            for key in counted:
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key], self._locks[key]


class MongoTimelineStore:
    """``TimelineStore`` on MongoDB.

    On a replica set or sharded cluster (``collections.transactions``) an append is one
    multi-document transaction: the cursors are raised and the entries inserted together, a
    concurrent append of the same users aborts on the cursor documents and runs again, so
    per user the commit order is the seq order and no seq is left unused. That is the SQL
    store's guarantee.

    On a standalone server an append takes its seqs in one atomic update per cursor that also
    records them as pending, writes the entries, then clears the pending mark. Readers stop
    below the oldest pending seq (the committed high-water mark, :mod:`.highwater`), so a
    sync never passes an entry that is still being written. A seq whose append failed or
    stalled past ``lease_ms`` is fenced with a tombstone by the next reader and stays a gap,
    which clients treat as "pull"; no seq is handed out twice either way.

    Args:
        collections: the cursor and entry collections.
        transactions: use transactions; ``None`` asks ``collections`` (the server's kind).
        lease_ms: how long an append may hold pending seqs before readers fence them.
        max_attempts: rounds of an append whose slots were fenced or whose transaction met a
            concurrent append of the same message.
        clock: Unix ms.
    """

    def __init__(
        self,
        *,
        collections: TimelineCollections,
        transactions: bool | None = None,
        lease_ms: int = 30_000,
        max_attempts: int = 8,
        clock: Clock = now_ms,
    ):
        self._db = collections
        self._transactions = transactions
        self._lease_ms = lease_ms
        self._max_attempts = max_attempts
        self._clock = clock
        self._locks = _MessageLocks()

    @property
    def transactional(self) -> bool:
        """Whether appends run as transactions."""
        if self._transactions is None:
            return self._db.transactions
        return self._transactions

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        """Append one message; see :meth:`TimelineStore.append`."""
        return (await self.append_many([(message, user_ids)]))[0]

    async def append_many(self, items: Items) -> list[dict[int, int]]:
        """Append several messages, in order; a replayed message is one entry per user."""
        if not any(users for _, users in items):
            return [{} for _ in items]
        unique = unique_messages(items)
        with unavailable_on_error("timeline append"):
            async with self._locks.hold(unique):
                seqs = await self._append_unique(list(unique.values()))
        return answer(items, seqs)

    async def _append_unique(self, items: Items) -> Results:
        results: Results = {(m.conversation_id, m.seq): {} for m, _ in items}
        todo = {index: set(users) for index, (_, users) in enumerate(items)}
        for _ in range(self._max_attempts):
            if self.transactional:
                todo = await self._transaction_round(items, results, todo)
            else:
                todo = await self._lease_round(items, results, todo)
            if not any(todo.values()):
                return results
        raise Unavailable(
            f"timeline append gave up after {self._max_attempts} rounds of contention; "
            "the fan-out retries the message"
        )

    async def _transaction_round(
        self, items: Items, results: Results, todo: dict[int, set[int]]
    ) -> dict[int, set[int]]:
        async def work(s: Session) -> Results:
            attempt: Results = {key: dict(seqs) for key, seqs in results.items()}
            step = await self._plan(items, attempt, todo, s)
            if step.wanted:
                last = await self._allocate(step, None, s)
                outcome = await self._db.insert(self._rows(step, last), s)
                if not outcome.clean:
                    raise _Retry
            return attempt

        try:
            results.update(await self._db.in_transaction(work))
        except _Retry:
            return todo  # the next round finds what the other append stored
        return {}

    async def _lease_round(
        self, items: Items, results: Results, todo: dict[int, set[int]]
    ) -> dict[int, set[int]]:
        step = await self._plan(items, results, todo, None)
        if not step.wanted:
            return {}
        pending = Pending(token=secrets.token_hex(8), lo=0, hi=0, at_ms=self._clock())
        last = await self._allocate(step, pending, None)
        rows = self._rows(step, last)
        outcome = await self._db.insert(rows, None)
        # Only after the insert answered: an insert that raised may still land, so its seqs
        # stay pending until the lease runs out and a reader fences them.
        await self._db.release(sorted(step.wanted), pending.token)
        return self._record(rows, outcome, items, results)

    async def _plan(
        self, items: Items, results: Results, todo: dict[int, set[int]], s: Session
    ) -> _Round:
        """Who still needs which message, after looking for entries already there."""
        users = sorted({u for users in todo.values() for u in users})
        conversations = sorted({items[i][0].conversation_id for i in todo})
        seqs = sorted({items[i][0].seq for i in todo})
        held = await self._db.held(users, conversations, seqs, s)
        wanted: dict[int, list[int]] = {}
        for index in sorted(todo):
            message = items[index][0]
            key = (message.conversation_id, message.seq)
            for user in sorted(todo[index]):
                seq = held.get((user, *key))
                if seq is not None:
                    results[key][user] = seq
                else:
                    wanted.setdefault(user, []).append(index)
        return _Round(items=items, results=results, wanted=wanted)

    async def _allocate(self, step: _Round, pending: Pending | None, s: Session) -> dict[int, int]:
        last: dict[int, int] = {}
        for count, users in by_count(step.wanted).items():
            got = await self._db.allocate(users, count, pending, s)
            missing = [u for u in users if u not in got]
            if missing:
                # Cursors are never deleted: once created, the second allocation finds them.
                await self._db.ensure_cursors(missing)
                got.update(await self._db.allocate(missing, count, pending, s))
            last.update(got)
        return last

    def _rows(self, step: _Round, last: dict[int, int]) -> list[EntryRow]:
        payloads: dict[int, str] = {}
        rows = []
        for user, slots in assign_slots(step.wanted, last).items():
            for index, user_seq in slots.items():
                message = step.items[index][0]
                if index not in payloads:
                    payloads[index] = _encode(message).decode()
                rows.append(
                    EntryRow(
                        user_id=user,
                        user_seq=user_seq,
                        conversation_id=message.conversation_id,
                        seq=message.seq,
                        message=payloads[index],
                        created_at=message.created_at,
                    )
                )
                step.results[(message.conversation_id, message.seq)][user] = user_seq
        return rows

    @staticmethod
    def _record(
        rows: list[EntryRow], outcome: InsertOutcome, items: Items, results: Results
    ) -> dict[int, set[int]]:
        """Undo the answer for rows that were not stored; return them as the next round."""
        index_of = {(m.conversation_id, m.seq): i for i, (m, _) in enumerate(items)}
        again: dict[int, set[int]] = {}
        for row in rows:
            lost = (row.user_id, row.user_seq) in outcome.fenced or (
                (row.user_id, row.conversation_id, row.seq) in outcome.duplicates
            )
            if lost:
                results[(row.conversation_id, row.seq)].pop(row.user_id, None)
                again.setdefault(index_of[(row.conversation_id, row.seq)], set()).add(row.user_id)
        if outcome.fenced:
            log.warning(
                "timeline append outlived its lease; its fenced seqs stay gaps",
                extra={"fenced": len(outcome.fenced)},
            )
        return again

    async def sync(self, user_id: int, after: int, limit: int) -> SyncPage:
        """A page of the user's timeline, bounded by the committed high-water mark."""
        with unavailable_on_error("timeline sync"):
            async with self._db.reading() as s:
                mark = await self._mark(user_id, s, fence=True)
                if mark <= after or limit < 1:
                    return SyncPage(entries=[], latest_seq=mark, has_more=mark > after)
                rows = await self._db.entries(user_id, after, mark, limit + 1, s)
        entries = [
            TimelineEntry(user_seq=seq, message=_decode_message(text)) for seq, text in rows[:limit]
        ]
        return SyncPage(entries=entries, latest_seq=mark, has_more=len(rows) > limit)

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Delete the user's entries of one message (a delete for me)."""
        with unavailable_on_error("timeline forget"):
            return await self._db.forget(user_id, conversation_id, seq)

    async def latest_seq(self, user_id: int) -> int:
        """The committed high-water mark: every seq up to it is written or never will be."""
        with unavailable_on_error("timeline read"):
            async with self._db.reading() as s:
                return await self._mark(user_id, s, fence=False)

    async def _mark(self, user_id: int, s: Session, *, fence: bool) -> int:
        state = await self._db.cursor(user_id, s)
        now = self._clock()
        expired = state.expired(now, self._lease_ms)
        if fence and expired:
            # First insert wins each slot: an entry that lands first is kept and read, a late
            # one finds the tombstone and its append takes a new seq above this mark.
            await self._db.fence(user_id, spans(expired), now, s)
            for pending in expired:
                await self._db.release([user_id], pending.token)
            log.warning(
                "timeline seqs of a stalled append fenced",
                extra={"user_id": user_id, "seqs": len(spans(expired))},
            )
        return state.committed_mark(now, self._lease_ms)

    async def prune(self, older_than_ms: int) -> int:
        """Delete entries (and tombstones) older than ``older_than_ms``; cursors stay."""
        with unavailable_on_error("timeline prune"):
            return await self._db.prune(older_than_ms)
