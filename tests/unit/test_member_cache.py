"""The groups service's member-set cache under concurrency (review 4.5) and across processes.

Each test pauses the store's member read at a chosen point, so the interleaving a MySQL
pool allows (a read before a removal commits, a caller cancelled mid-load) happens for sure.
"""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.errors import Forbidden
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.groups.contract import GroupCreate, MemberSet
from gomicroim.modules.groups.ports import MembersChanged
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import FakeClock, MemoryGroupStore, StaticDirectory

OWNER, MEMBER = 1, 2


class PausingStore(MemoryGroupStore):
    """Member reads take their snapshot, then wait for ``release`` before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.pause = False
        self.reading = asyncio.Event()
        self.release = asyncio.Event()
        self.reads = 0

    async def member_ids(self, group_id: int) -> tuple[int, set[int]]:
        snapshot = await super().member_ids(group_id)
        self.reads += 1
        if self.pause:
            self.reading.set()
            await self.release.wait()
        return snapshot


def service(
    store: MemoryGroupStore, events: LocalBroadcast[MembersChanged] | None = None
) -> GroupsService:
    return GroupsService(
        store=store,
        users=StaticDirectory(range(1, 21)),
        max_members=50,
        member_cache_ttl_s=60,
        clock=FakeClock(1_000),
        member_events=events,
    )


async def group(groups: GroupsService) -> int:
    return (await groups.create(OWNER, GroupCreate(name="g", member_ids=[MEMBER]))).id


async def test_a_load_racing_a_removal_does_not_cache_the_removed_member() -> None:
    store = PausingStore()
    groups = service(store)
    gid = await group(groups)
    store.pause = True
    # A fan-out reads the member list (MEMBER still in it) and is slow to answer...
    loading = asyncio.create_task(groups.member_set(gid))
    await store.reading.wait()
    # ...while the owner removes MEMBER, which commits and invalidates first.
    store.pause = False
    await groups.remove_member(gid, OWNER, MEMBER)
    store.release.set()
    stale = await loading

    assert MEMBER in stale.user_ids  # the slow read answered with what it saw
    with pytest.raises(Forbidden):
        await groups.membership_version(gid, MEMBER)
    assert MEMBER not in (await groups.member_set(gid)).user_ids


async def test_a_caller_arriving_after_a_removal_does_not_join_an_older_load() -> None:
    store = PausingStore()
    groups = service(store)
    gid = await group(groups)
    store.pause = True
    early = asyncio.create_task(groups.member_set(gid))
    await store.reading.wait()
    store.pause = False
    await groups.remove_member(gid, OWNER, MEMBER)

    async with asyncio.timeout(2):  # joining the paused older load would never return
        late = await groups.member_set(gid)
    store.release.set()
    await early

    assert MEMBER not in late.user_ids


async def test_a_cancelled_caller_does_not_cancel_the_others_waiting_for_the_same_load() -> None:
    store = PausingStore()
    groups = service(store)
    gid = await group(groups)
    store.pause = True
    first = asyncio.create_task(groups.member_set(gid))
    await store.reading.wait()
    second = asyncio.create_task(groups.member_set(gid))
    await asyncio.sleep(0)

    first.cancel()
    await asyncio.sleep(0)
    store.release.set()
    members: MemberSet = await second

    assert first.cancelled()
    assert members.user_ids == {OWNER, MEMBER}
    assert store.reads == 1, "the two callers shared one load"


async def test_a_load_whose_callers_all_left_still_fills_the_cache() -> None:
    store = PausingStore()
    groups = service(store)
    gid = await group(groups)
    store.pause = True
    only = asyncio.create_task(groups.member_set(gid))
    await store.reading.wait()
    only.cancel()
    store.release.set()
    await asyncio.sleep(0.01)
    store.pause = False

    await groups.member_set(gid)

    assert store.reads == 1


async def test_a_removal_on_one_process_reaches_the_cache_of_another() -> None:
    store = MemoryGroupStore()
    events: LocalBroadcast[MembersChanged] = LocalBroadcast("groups.members")
    here, there = service(store, events), service(store, events)
    gid = await group(here)
    assert await there.membership_version(gid, MEMBER) >= 1  # cached on "there"

    await here.remove_member(gid, OWNER, MEMBER)

    with pytest.raises(Forbidden):
        await there.membership_version(gid, MEMBER)
