"""The MongoDB timeline without a server: seq high-water logic, indexes, errors, wiring.

No MongoDB server exists on this machine and none can be installed, so nothing here talks to
one: the store's seq logic runs on the in-memory collection layer of ``tests/fakes`` (several
stores on one layer act as several processes on one database), and the pymongo layer is
checked where that needs no server (index definitions, how duplicate-key errors are read, a
refused connection). The queries themselves run in the timeline contract suite only when
``GOMICROIM_TEST_MONGO_URL`` is set.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import msgspec
import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from gomicroim.config import ConfigError, MongoSettings, Settings, load_settings
from gomicroim.container import Container
from gomicroim.errors import Unavailable
from gomicroim.infra.mongo import MongoEngine
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.storage.mongo import MongoTimelineStore
from gomicroim.modules.timeline.storage.mongo.documents import (
    MESSAGE_INDEX,
    SLOT_INDEX,
    EntryDocument,
    expiry_index,
    timeline_models,
)
from gomicroim.modules.timeline.storage.mongo.highwater import CursorState, Pending
from gomicroim.modules.timeline.storage.mongo.layer import EntryRow, InsertOutcome, _sort_out
from tests.fakes.mongo_timeline import MemoryTimelineCollections

A, B = 1, 2
LEASE_MS = 1_000
T0 = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def message(seq: int) -> MessageRead:
    return MessageRead(
        conversation_id="g:7",
        seq=seq,
        sender_id=9,
        to=7,
        session_type="group",
        client_msg_id=f"c-{seq}",
        msg_type="text",
        body=f"m{seq}",
        created_at=T0,
    )


def processes(n: int, layer: MemoryTimelineCollections, clock: Clock) -> list[MongoTimelineStore]:
    """``n`` stores on one database: the processes of a cluster."""
    return [MongoTimelineStore(collections=layer, lease_ms=LEASE_MS, clock=clock) for _ in range(n)]


class Gate:
    """Holds the first insert (the slow append) until opened; lets every other through."""

    def __init__(self) -> None:
        self.held = asyncio.Event()
        self.opened = asyncio.Event()
        self._first = True

    async def __call__(self, rows: Sequence[EntryRow]) -> None:
        if self._first:
            self._first = False
            self.held.set()
            await self.opened.wait()


async def bodies(store: MongoTimelineStore, user: int, after: int = 0) -> list[tuple[int, str]]:
    page = await store.sync(user, after, 100)
    return [(e.user_seq, e.message.body) for e in page.entries]


# --- the committed high-water mark ------------------------------------------------------------


async def test_a_reader_stops_below_a_seq_still_being_written() -> None:
    layer, clock = MemoryTimelineCollections(), Clock()
    slow, fast = processes(2, layer, clock)
    layer.gate = gate = Gate()

    first = asyncio.create_task(slow.append(message(1), {A}))
    await gate.held.wait()  # user seq 1 is taken, its entry not written yet
    assert await fast.append(message(2), {A}) == {A: 2}

    # Seq 2 is written, but a client that synced it now would never see seq 1.
    assert await fast.sync(A, 0, 100) == await fast.sync(A, 0, 100)
    page = await fast.sync(A, 0, 100)
    assert (page.entries, page.latest_seq, page.has_more) == ([], 0, False)
    assert await fast.latest_seq(A) == 0

    gate.opened.set()
    assert await first == {A: 1}
    assert await bodies(fast, A) == [(1, "m1"), (2, "m2")]
    assert await fast.latest_seq(A) == 2


async def test_a_stalled_append_is_fenced_after_its_lease_and_its_entry_lands_above() -> None:
    layer, clock = MemoryTimelineCollections(), Clock()
    slow, fast = processes(2, layer, clock)
    layer.gate = gate = Gate()
    first = asyncio.create_task(slow.append(message(1), {A}))
    await gate.held.wait()
    await fast.append(message(2), {A})

    clock.now += LEASE_MS
    assert await bodies(fast, A) == [(2, "m2")]  # slot 1 fenced: a gap, then seq 2
    assert layer.tombstones(A) == [1]

    gate.opened.set()
    # The slow append wakes up, finds its slot taken, and takes a seq above what was read.
    assert await first == {A: 3}
    assert await bodies(fast, A, after=2) == [(3, "m1")]
    assert await bodies(fast, A) == [(2, "m2"), (3, "m1")]


async def test_an_entry_written_just_before_its_fence_is_kept() -> None:
    layer, clock = MemoryTimelineCollections(), Clock()
    (store,) = processes(1, layer, clock)
    # An append that wrote its entry and died before clearing its pending mark.
    await layer.ensure_cursors([A])
    await layer.allocate([A], 1, Pending(token="dead", lo=0, hi=0, at_ms=T0), None)
    body = msgspec.json.encode(message(1)).decode()
    assert (await layer.insert([EntryRow(A, 1, "g:7", 1, body, T0)], None)).clean

    assert await store.latest_seq(A) == 0  # still pending within its lease
    clock.now += LEASE_MS
    assert await bodies(store, A) == [(1, "m1")]
    assert layer.tombstones(A) == []
    assert layer.cursors[A].pending == []


async def test_a_failed_insert_surfaces_as_unavailable_and_its_retry_is_not_skipped() -> None:
    layer, clock = MemoryTimelineCollections(), Clock()
    (store,) = processes(1, layer, clock)
    layer.fail_next_insert = AutoReconnect("connection reset by peer")

    with pytest.raises(Unavailable, match="MongoDB is unavailable during timeline append"):
        await store.append(message(1), {A, B})
    # The insert may still land on the server, so its seqs stay pending until the lease ends.
    await store.append(message(2), {A})
    assert await store.sync(A, 0, 100) == await store.sync(A, 0, 100)
    assert (await store.sync(A, 0, 100)).latest_seq == 0

    clock.now += LEASE_MS
    assert await bodies(store, A) == [(2, "m2")]
    # The fan-out redelivers message 1: it lands above, where A's client still looks.
    assert await store.append(message(1), {A, B}) == {A: 3, B: 2}
    assert await bodies(store, A, after=2) == [(3, "m1")]
    assert await bodies(store, B) == [(2, "m1")]


async def test_processes_appending_at_once_never_hand_out_a_seq_twice() -> None:
    layer, clock = MemoryTimelineCollections(), Clock()
    stores = processes(3, layer, clock)
    users = set(range(10, 20))

    results = await asyncio.gather(
        *(stores[i % 3].append(message(i + 1), users) for i in range(30))
    )

    for user in users:
        assert sorted(r[user] for r in results) == list(range(1, 31))
        page = await stores[0].sync(user, 0, 100)
        assert [e.message.seq for e in page.entries] == [
            m for s, m in sorted((r[user], i + 1) for i, r in enumerate(results))
        ]
        assert page.latest_seq == 30


async def test_the_same_message_appended_at_once_in_one_process_leaves_no_gap() -> None:
    layer, clock = MemoryTimelineCollections(), Clock()
    (store,) = processes(1, layer, clock)

    results = await asyncio.gather(*(store.append(message(1), {A, B}) for _ in range(5)))

    assert results == [{A: 1, B: 1}] * 5
    assert await store.latest_seq(A) == 1
    assert layer.cursors[A].last_seq == 1


def test_live_pending_seqs_hold_the_mark_and_expired_ones_do_not() -> None:
    state = CursorState(
        last_seq=9,
        pending=(
            Pending(token="old", lo=3, hi=4, at_ms=T0 - LEASE_MS),
            Pending(token="live", lo=6, hi=7, at_ms=T0),
        ),
    )

    assert state.committed_mark(T0, LEASE_MS) == 5
    assert [p.token for p in state.expired(T0, LEASE_MS)] == ["old"]
    assert CursorState(last_seq=9).committed_mark(T0, LEASE_MS) == 9


# --- indexes and the pymongo layer ------------------------------------------------------------


def test_entries_are_unique_per_slot_and_per_message_and_expire_after_the_retention() -> None:
    indexes = {i.document["name"]: i.document for i in EntryDocument.Settings.indexes}

    assert indexes[SLOT_INDEX]["key"] == {"user_id": 1, "user_seq": 1}
    assert indexes[SLOT_INDEX]["unique"] is True
    assert indexes[MESSAGE_INDEX]["key"] == {"user_id": 1, "conversation_id": 1, "seq": 1}
    assert indexes[MESSAGE_INDEX]["unique"] is True
    # Tombstones have no conversation: without the filter two of one user would clash.
    assert indexes[MESSAGE_INDEX]["partialFilterExpression"] == {
        "conversation_id": {"$type": "string"}
    }
    assert expiry_index(30).document["expireAfterSeconds"] == 30 * 24 * 3600
    assert expiry_index(0.5).document["key"] == {"created": 1}
    models = timeline_models(7)
    assert [d.Settings.name for d in models.documents] == [
        "timeline_cursors",
        "timeline_entries",
    ]
    assert models.indexes[EntryDocument][0].document["expireAfterSeconds"] == 7 * 24 * 3600


def test_duplicate_key_errors_are_told_apart_by_the_index_they_hit() -> None:
    rows = [EntryRow(A, 1, "g:7", 1, "{}", T0), EntryRow(B, 4, "g:7", 1, "{}", T0)]
    error = BulkWriteError(
        {
            "writeErrors": [
                {"index": 0, "code": 11000, "keyPattern": {"user_id": 1, "user_seq": 1}},
                {"index": 1, "code": 11000, "errmsg": f"E11000 index: {MESSAGE_INDEX} dup key"},
            ]
        }
    )
    outcome = InsertOutcome()

    _sort_out(error, rows, outcome)

    assert outcome.fenced == {(A, 1)}
    assert outcome.duplicates == {(B, "g:7", 1)}


def test_other_write_errors_of_an_insert_are_raised() -> None:
    error = BulkWriteError({"writeErrors": [{"index": 0, "code": 121, "errmsg": "invalid"}]})

    with pytest.raises(BulkWriteError):
        _sort_out(error, [EntryRow(A, 1, "g:7", 1, "{}", T0)], InsertOutcome())


async def test_an_unreachable_server_fails_the_start_fast_naming_the_setting() -> None:
    engine = MongoEngine(
        MongoSettings(url="mongodb://im:hunter2@127.0.0.1:1/", database="im", timeout_s=0.3)
    )
    started = time.monotonic()

    with pytest.raises(Unavailable) as error:
        await engine.open([timeline_models(30)])

    assert time.monotonic() - started < 5
    assert "mongodb://im:***@127.0.0.1:1/" in error.value.message
    assert "check mongo.url" in error.value.message
    assert "hunter2" not in error.value.message
    with pytest.raises(Unavailable, match="mongodb does not answer"):
        await engine.ping()


# --- settings and wiring ----------------------------------------------------------------------


def test_a_timeout_of_zero_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"mongo\.timeout_s"):
        load_settings(env={"GOMICROIM__MONGO__TIMEOUT_S": "0"})


def test_timeline_on_mongo_adds_the_engine_readyz_checks(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(timeline={"backend": "mongo"}, mongo={"url": "mongodb://m:27017"})
    container = Container(settings=settings, jwt_secret="s" * 32)

    assert isinstance(container.timeline.store(), MongoTimelineStore)
    assert [e.name for e in container.engines()] == ["database", "mongodb"]
    assert [e.name for e in Container(settings=make_settings(), jwt_secret="s" * 32).engines()] == [
        "database"
    ]


def test_the_embedded_shape_never_loads_the_mongodb_driver() -> None:
    code = (
        "import sys\n"
        "from gomicroim.config import load_settings\n"
        "from gomicroim.container import Container\n"
        "c = Container(settings=load_settings(env={}), jwt_secret='s' * 32)\n"
        "c.timeline.service(); c.engines()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymongo', 'beanie')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
