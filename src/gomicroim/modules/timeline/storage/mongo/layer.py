"""The few collection operations the MongoDB timeline store is made of, on pymongo.

:class:`TimelineCollections` is the seam between the store's seq logic and MongoDB: every
method is one or two single-document-atomic (or bulk) operations. ``tests/fakes`` implements
it in memory, so the logic runs through the timeline contract suite without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from gomicroim.infra.mongo import MongoEngine
from gomicroim.modules.timeline.storage.batch import chunks
from gomicroim.modules.timeline.storage.mongo.documents import CURSORS, ENTRIES, MESSAGE_INDEX
from gomicroim.modules.timeline.storage.mongo.highwater import CursorState, Pending

T = TypeVar("T")
#: A pymongo session, or whatever a fake passes around instead (``None`` outside one).
Session = Any

_DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class EntryRow:
    """One entry to insert: ``message`` is the message's JSON."""

    user_id: int
    user_seq: int
    conversation_id: str
    seq: int
    message: str
    created_at: int


@dataclass
class InsertOutcome:
    """Rows an insert could not store because their key was already there."""

    #: (user, user_seq) slots a reader had fenced with a tombstone.
    fenced: set[tuple[int, int]] = field(default_factory=set)
    #: (user, conversation_id, seq) a concurrent append of the same message stored first.
    duplicates: set[tuple[int, str, int]] = field(default_factory=set)

    @property
    def clean(self) -> bool:
        """Whether every row was stored."""
        return not self.fenced and not self.duplicates


class TimelineCollections(Protocol):
    """Operations on the cursor and entry collections."""

    @property
    def transactions(self) -> bool:
        """Whether :meth:`in_transaction` runs its work as one multi-document transaction."""
        ...

    async def in_transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction, again from the start on a transient abort."""
        ...

    def reading(self) -> AbstractAsyncContextManager[Session]:
        """A session in which each read sees at least what the previous one saw."""
        ...

    async def held(
        self, users: Sequence[int], conversations: Sequence[str], seqs: Sequence[int], s: Session
    ) -> dict[tuple[int, str, int], int]:
        """(user, conversation_id, seq) → user seq, for entries among these that exist."""
        ...

    async def ensure_cursors(self, users: Sequence[int]) -> None:
        """Create missing cursors at 0; existing ones stay as they are."""
        ...

    async def allocate(
        self, users: Sequence[int], count: int, pending: Pending | None, s: Session
    ) -> dict[int, int]:
        """Raise each user's cursor by ``count``; return the new values.

        With ``pending`` (its ``token`` and ``at_ms``; ``lo``/``hi`` are per user and ignored),
        the same atomic update records the taken seqs as pending. Users without a cursor are
        left out of the answer.
        """
        ...

    async def insert(self, rows: Sequence[EntryRow], s: Session) -> InsertOutcome:
        """Insert entries; rows whose slot or message is taken are reported, not raised."""
        ...

    async def release(self, users: Sequence[int], token: str) -> None:
        """Take the pending allocation ``token`` off these users' cursors."""
        ...

    async def cursor(self, user: int, s: Session) -> CursorState:
        """The user's cursor (``last_seq`` 0 and nothing pending when there is none)."""
        ...

    async def fence(self, user: int, seqs: Sequence[int], now_ms: int, s: Session) -> None:
        """Put a tombstone into each of these slots that holds nothing yet."""
        ...

    async def entries(
        self, user: int, after: int, upto: int, limit: int, s: Session
    ) -> list[tuple[int, str]]:
        """(user seq, message JSON) of entries in ``after < user_seq <= upto``, ascending."""
        ...

    async def prune(self, older_than_ms: int) -> int:
        """Delete entries and tombstones created before ``older_than_ms``; return how many."""
        ...

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Delete one user's entries of one message; return how many."""
        ...


def _date(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class PymongoCollections:
    """:class:`TimelineCollections` on the collections of ``engine``'s database.

    Args:
        engine: the open MongoDB engine (resolved per call: it opens after this is built).
        max_in_list: user ids per ``$in`` list and per bulk request.
    """

    def __init__(self, engine: MongoEngine, *, max_in_list: int = 5000):
        self._engine = engine
        self._max_in_list = max_in_list

    @property
    def _cursors(self) -> Any:
        return self._engine.database[CURSORS]

    @property
    def _entries(self) -> Any:
        return self._engine.database[ENTRIES]

    @property
    def transactions(self) -> bool:
        """Whether the server is a replica set or a sharded cluster."""
        return self._engine.transactions

    async def in_transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """``with_transaction``: retries TransientTransactionError and unknown commit results."""
        async with self._engine.client.start_session() as session:
            return await session.with_transaction(work)

    @asynccontextmanager
    async def _causal(self) -> AsyncIterator[Session]:
        async with self._engine.client.start_session(causal_consistency=True) as session:
            yield session

    def reading(self) -> AbstractAsyncContextManager[Session]:
        """A causally consistent session: the entries read after the cursor are as new."""
        return self._causal()

    async def held(
        self, users: Sequence[int], conversations: Sequence[str], seqs: Sequence[int], s: Session
    ) -> dict[tuple[int, str, int], int]:
        """One query per chunk of users; a superset of the wanted triples, filtered."""
        wanted = {(u, c, q) for u in users for c in conversations for q in seqs}
        found: dict[tuple[int, str, int], int] = {}
        for part in chunks(users, self._max_in_list):
            query = {
                "user_id": {"$in": list(part)},
                "conversation_id": {"$in": list(conversations)},
                "seq": {"$in": list(seqs)},
            }
            projection = {"_id": 0, "user_id": 1, "conversation_id": 1, "seq": 1, "user_seq": 1}
            async for doc in self._entries.find(query, projection, session=s):
                key = (int(doc["user_id"]), str(doc["conversation_id"]), int(doc["seq"]))
                if key in wanted:
                    found[key] = int(doc["user_seq"])
        return found

    async def ensure_cursors(self, users: Sequence[int]) -> None:
        """Upserts; a racing upsert of the same user fails on ``_id`` and is ignored."""
        for part in chunks(users, self._max_in_list):
            requests = [
                UpdateOne({"_id": u}, {"$setOnInsert": {"last_seq": 0, "pending": []}}, upsert=True)
                for u in part
            ]
            try:
                await self._cursors.bulk_write(requests, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != _DUPLICATE_KEY for e in errors) or not errors:
                    raise

    async def allocate(
        self, users: Sequence[int], count: int, pending: Pending | None, s: Session
    ) -> dict[int, int]:
        """One update and one read per chunk of users."""
        last: dict[int, int] = {}
        for part in chunks(users, self._max_in_list):
            ids = {"_id": {"$in": list(part)}}
            if pending is None:
                # Inside a transaction: the read sees this transaction's own increments, and a
                # concurrent increment of the same cursor aborts one of the two.
                await self._cursors.update_many(ids, {"$inc": {"last_seq": count}}, session=s)
                async for doc in self._cursors.find(ids, {"last_seq": 1}, session=s):
                    last[int(doc["_id"])] = int(doc["last_seq"])
                continue
            # One pipeline stage sees the document before the update: lo and hi are computed
            # from the same last_seq that is raised, atomically per cursor document.
            taken = {
                "token": {"$literal": pending.token},
                "lo": {"$add": ["$last_seq", 1]},
                "hi": {"$add": ["$last_seq", count]},
                "at": {"$literal": pending.at_ms},
            }
            update = [
                {
                    "$set": {
                        "pending": {"$concatArrays": [{"$ifNull": ["$pending", []]}, [taken]]},
                        "last_seq": {"$add": ["$last_seq", count]},
                    }
                }
            ]
            await self._cursors.update_many(ids, update, session=s)
            mine = {"pending": {"$elemMatch": {"token": pending.token}}}
            async for doc in self._cursors.find(ids, mine, session=s):
                if doc.get("pending"):
                    last[int(doc["_id"])] = int(doc["pending"][0]["hi"])
        return last

    async def insert(self, rows: Sequence[EntryRow], s: Session) -> InsertOutcome:
        """Unordered bulk inserts: one taken key does not stop the other rows."""
        outcome = InsertOutcome()
        for part in chunks(rows, self._max_in_list):
            docs = [
                {
                    "user_id": r.user_id,
                    "user_seq": r.user_seq,
                    "conversation_id": r.conversation_id,
                    "seq": r.seq,
                    "message": r.message,
                    "created_at": r.created_at,
                    "created": _date(r.created_at),
                }
                for r in part
            ]
            try:
                await self._entries.insert_many(docs, ordered=False, session=s)
            except BulkWriteError as exc:
                _sort_out(exc, part, outcome)
        return outcome

    async def release(self, users: Sequence[int], token: str) -> None:
        """One update per chunk."""
        for part in chunks(users, self._max_in_list):
            await self._cursors.update_many(
                {"_id": {"$in": list(part)}}, {"$pull": {"pending": {"token": token}}}
            )

    async def cursor(self, user: int, s: Session) -> CursorState:
        """One read of the cursor document."""
        doc = await self._cursors.find_one({"_id": user}, session=s)
        if doc is None:
            return CursorState(last_seq=0)
        pending = tuple(
            Pending(token=str(p["token"]), lo=int(p["lo"]), hi=int(p["hi"]), at_ms=int(p["at"]))
            for p in doc.get("pending") or ()
        )
        return CursorState(last_seq=int(doc.get("last_seq", 0)), pending=pending)

    async def fence(self, user: int, seqs: Sequence[int], now_ms: int, s: Session) -> None:
        """Unordered tombstone inserts; a slot that holds an entry keeps it."""
        docs = [
            {"user_id": user, "user_seq": seq, "created_at": now_ms, "created": _date(now_ms)}
            for seq in seqs
        ]
        if not docs:
            return
        try:
            await self._entries.insert_many(docs, ordered=False, session=s)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise

    async def entries(
        self, user: int, after: int, upto: int, limit: int, s: Session
    ) -> list[tuple[int, str]]:
        """One indexed range query on (user_id, user_seq); tombstones are skipped."""
        query = {
            "user_id": user,
            "user_seq": {"$gt": after, "$lte": upto},
            "message": {"$type": "string"},
        }
        found = self._entries.find(query, {"_id": 0, "user_seq": 1, "message": 1}, session=s)
        docs = await found.sort("user_seq", 1).limit(limit).to_list()
        return [(int(d["user_seq"]), str(d["message"])) for d in docs]

    async def prune(self, older_than_ms: int) -> int:
        """One ``delete_many``; the TTL index does the same on its own, a minute at a time."""
        result = await self._entries.delete_many({"created_at": {"$lt": older_than_ms}})
        return int(result.deleted_count)

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """One ``delete_many`` on the (user, conversation, seq) index."""
        result = await self._entries.delete_many(
            {"user_id": user_id, "conversation_id": conversation_id, "seq": seq}
        )
        return int(result.deleted_count)


def _sort_out(exc: BulkWriteError, rows: Sequence[EntryRow], outcome: InsertOutcome) -> None:
    """File each duplicate-key error of a bulk insert under the index it hit; raise the rest."""
    errors = exc.details.get("writeErrors", [])
    if not errors or any(e.get("code") != _DUPLICATE_KEY for e in errors):
        raise exc
    for error in errors:
        row = rows[int(error["index"])]
        pattern = error.get("keyPattern") or {}
        if "conversation_id" in pattern or MESSAGE_INDEX in str(error.get("errmsg", "")):
            outcome.duplicates.add((row.user_id, row.conversation_id, row.seq))
        else:
            outcome.fenced.add((row.user_id, row.user_seq))
