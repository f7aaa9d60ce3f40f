"""Contract of timeline stores for changed messages: revisions are entries, forget removes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gomicroim.modules.chat import changes
from gomicroim.modules.timeline.ports import TimelineStore
from gomicroim.modules.timeline.storage import SqlTimelineStore
from tests.contract.conftest import BACKENDS, Backend, open_backend
from tests.contract.test_timeline_store import NOW, A, B, message
from tests.fakes.timeline import MemoryTimelineStore

# The MongoDB adapter keys entries by (conversation, seq) only: change entries are not yet
# supported there (and no MongoDB server exists on this machine to test them on).


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request.param, request, tmp_path) as opened:
        yield opened


@pytest.fixture
def store(backend: Backend) -> TimelineStore:
    return MemoryTimelineStore() if backend.name == "memory" else SqlTimelineStore()


async def test_a_recall_is_a_new_entry_and_scrubs_the_older_copy(store: TimelineStore) -> None:
    original = message(5, body="secret")
    first = await store.append(original, {A, B})
    tombstone = changes.recalled(original, A, NOW + 1)

    second = await store.append(tombstone, {A, B})
    again = await store.append(tombstone, {A, B})

    assert second == again
    assert all(second[u] > first[u] for u in (A, B))
    page = await store.sync(B, 0, 10)
    assert [(e.user_seq, e.kind) for e in page.entries] == [
        (first[B], "message"),
        (second[B], "recall"),
    ]
    assert [e.message for e in page.entries] == [tombstone, tombstone]
    assert all("secret" not in e.message.body for e in page.entries)


async def test_edits_are_entries_in_order(store: TimelineStore) -> None:
    original = message(3, body="helo")
    await store.append(original, {B})
    one = changes.edited(original, "hello", NOW + 1)
    two = changes.edited(one, "hello!", NOW + 2)
    await store.append_many([(one, {B}), (two, {B})])

    page = await store.sync(B, 0, 10)

    assert [e.kind for e in page.entries] == ["message", "edit", "edit"]
    assert [e.message.revision for e in page.entries][-1] == 2
    assert page.entries[-1].message.body == "hello!"
    assert page.entries[0].message.body == "hello!"  # the older copies carry the newest text


async def test_forget_removes_one_users_entries_of_one_message(store: TimelineStore) -> None:
    await store.append(message(1), {A, B})
    await store.append(message(2), {A, B})
    await store.append(changes.edited(message(2), "x", NOW + 1), {A, B})

    assert await store.forget(B, "g:7", 2) == 2

    assert [e.message.seq for e in (await store.sync(B, 0, 10)).entries] == [1]
    assert [e.message.seq for e in (await store.sync(A, 0, 10)).entries] == [1, 2, 2]
    assert await store.forget(B, "g:7", 2) == 0
