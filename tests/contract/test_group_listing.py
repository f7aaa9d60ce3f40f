"""Contract of ``GroupStore.all_groups``: every group, a page at a time, for operators."""

from __future__ import annotations

import pytest

from gomicroim.modules.groups.ports import GroupStore
from gomicroim.modules.groups.storage import SqlGroupStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryGroupStore

NOW = 1_700_000_000_000


@pytest.fixture
def groups(backend: Backend) -> GroupStore:
    return SqlGroupStore() if backend.sql else MemoryGroupStore()


async def test_all_groups_pages_through_every_group_by_ascending_id(groups: GroupStore) -> None:
    made = [
        await groups.create(name=f"g{n}", owner_id=n + 1, member_ids=set(), now_ms=NOW)
        for n in range(5)
    ]

    first = await groups.all_groups(after_group_id=0, limit=3)
    rest = await groups.all_groups(after_group_id=first[-1].id, limit=3)

    assert first + rest == made
    assert await groups.all_groups(after_group_id=made[-1].id, limit=3) == []
