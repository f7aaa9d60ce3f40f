"""Contract of identity's ``BlockStore``: one row per pair, listed newest first."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.modules.identity.ports import BlockStore
from gomicroim.modules.identity.storage import SqlBlockStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryBlockStore

NOW = 1_700_000_000_000
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


@pytest.fixture
def blocks(backend: Backend) -> BlockStore:
    return SqlBlockStore() if backend.sql else MemoryBlockStore()


async def test_a_block_is_stored_once_and_keeps_its_first_time(blocks: BlockStore) -> None:
    first, created = await blocks.add(ALICE, BOB, NOW)
    again, created_again = await blocks.add(ALICE, BOB, NOW + 5000)

    assert created
    assert not created_again
    assert (first.blocker_id, first.blocked_id, first.blocked_at) == (ALICE, BOB, NOW)
    assert again == first
    assert await blocks.blocked_by(ALICE) == {BOB}


async def test_a_block_is_one_way(blocks: BlockStore) -> None:
    await blocks.add(ALICE, BOB, NOW)

    assert await blocks.blocked_by(BOB) == set()
    assert await blocks.page(BOB, before_id=None, limit=10) == []


async def test_blocked_by_lists_every_blocked_user_of_one_blocker(blocks: BlockStore) -> None:
    await blocks.add(ALICE, BOB, NOW)
    await blocks.add(ALICE, CAROL, NOW)
    await blocks.add(DAVE, ALICE, NOW)

    assert await blocks.blocked_by(ALICE) == {BOB, CAROL}
    assert await blocks.blocked_by(DAVE) == {ALICE}
    assert await blocks.blocked_by(CAROL) == set()


async def test_remove_deletes_the_block_once(blocks: BlockStore) -> None:
    await blocks.add(ALICE, BOB, NOW)
    await blocks.add(ALICE, CAROL, NOW)

    assert await blocks.remove(ALICE, BOB)
    assert not await blocks.remove(ALICE, BOB)
    assert not await blocks.remove(BOB, ALICE)
    assert await blocks.blocked_by(ALICE) == {CAROL}


async def test_a_removed_block_can_be_made_again_with_a_new_time(blocks: BlockStore) -> None:
    await blocks.add(ALICE, BOB, NOW)
    await blocks.remove(ALICE, BOB)

    again, created = await blocks.add(ALICE, BOB, NOW + 1)

    assert created
    assert again.blocked_at == NOW + 1
    assert await blocks.blocked_by(ALICE) == {BOB}


async def test_pages_walk_a_blockers_blocks_newest_first_once_each(blocks: BlockStore) -> None:
    blocked = list(range(10, 17))
    for offset, user in enumerate(blocked):
        await blocks.add(ALICE, user, NOW + offset)
    await blocks.add(BOB, 99, NOW)

    seen: list[int] = []
    before: int | None = None
    while True:
        page = await blocks.page(ALICE, before_id=before, limit=3)
        assert len(page) <= 3
        seen.extend(b.blocked_id for b in page)
        if len(page) < 3:
            break
        before = page[-1].id

    assert seen == blocked[::-1]
    assert all(b.blocker_id == ALICE for b in await blocks.page(ALICE, before_id=None, limit=50))


async def test_concurrent_blocks_of_one_pair_store_one_row(blocks: BlockStore) -> None:
    results = await asyncio.gather(*(blocks.add(ALICE, BOB, NOW + i) for i in range(8)))

    assert sum(created for _, created in results) == 1
    assert len({record for record, _ in results}) == 1
    assert len(await blocks.page(ALICE, before_id=None, limit=50)) == 1
