"""Contract of groups' ``GroupStore``: count and version move atomically with membership."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.modules.groups.ports import GroupFull, GroupStore
from gomicroim.modules.groups.storage import SqlGroupStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryGroupStore

NOW = 1_700_000_000_000
OWNER = 10


@pytest.fixture
def groups(backend: Backend) -> GroupStore:
    return SqlGroupStore() if backend.sql else MemoryGroupStore()


async def test_create_stores_the_group_its_owner_and_members(groups: GroupStore) -> None:
    group = await groups.create(name="Team 🚀", owner_id=OWNER, member_ids={12, 11}, now_ms=NOW)

    assert group.id >= 1
    assert (group.name, group.owner_id, group.member_count, group.created_at) == (
        "Team 🚀",
        OWNER,
        3,
        NOW,
    )
    assert await groups.get(group.id) == group
    members = await groups.members(group.id)
    assert members[0].user_id == OWNER
    assert {(m.user_id, m.role, m.joined_at) for m in members} == {
        (OWNER, "owner", NOW),
        (11, "member", NOW),
        (12, "member", NOW),
    }
    owner = await groups.member(group.id, OWNER)
    assert owner is not None
    assert owner.role == "owner"


async def test_a_new_group_has_a_positive_membership_version(groups: GroupStore) -> None:
    # Chat treats version 0 as "entries never synced", so groups must start above it.
    group = await groups.create(name="g", owner_id=OWNER, member_ids=set(), now_ms=NOW)

    assert group.member_version >= 1
    assert await groups.member_ids(group.id) == (group.member_version, {OWNER})


async def test_unknown_group_and_membership_are_none(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids=set(), now_ms=NOW)

    assert await groups.get(group.id + 1000) is None
    assert await groups.member(group.id, 99) is None
    assert await groups.member(group.id + 1000, OWNER) is None
    assert await groups.members(group.id + 1000) == []


async def test_add_members_adds_newcomers_and_moves_count_and_version(
    groups: GroupStore,
) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)

    updated = await groups.add_members(group.id, {11, 12, 13}, max_members=10, now_ms=NOW + 5)

    assert updated.member_count == 4
    assert updated.member_version > group.member_version
    assert await groups.get(group.id) == updated
    members = await groups.members(group.id)
    assert [m.user_id for m in members][:2] == [OWNER, 11]
    assert {m.user_id: m.joined_at for m in members} == {
        OWNER: NOW,
        11: NOW,
        12: NOW + 5,
        13: NOW + 5,
    }
    assert await groups.member_ids(group.id) == (updated.member_version, {OWNER, 11, 12, 13})


async def test_adding_only_present_users_changes_nothing(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)

    again = await groups.add_members(group.id, {OWNER, 11}, max_members=10, now_ms=NOW + 5)

    assert again == group
    assert await groups.get(group.id) == group


async def test_add_past_the_limit_is_refused_and_adds_nobody(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)

    with pytest.raises(GroupFull):
        await groups.add_members(group.id, {12, 13, 14}, max_members=4, now_ms=NOW + 5)

    assert await groups.get(group.id) == group
    assert await groups.member_ids(group.id) == (group.member_version, {OWNER, 11})


async def test_add_up_to_exactly_the_limit_is_allowed(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)

    updated = await groups.add_members(group.id, {12, 13}, max_members=4, now_ms=NOW)

    assert updated.member_count == 4


async def test_concurrent_adds_never_pass_the_limit(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids=set(), now_ms=NOW)

    results = await asyncio.gather(
        *(groups.add_members(group.id, {100 + i}, max_members=10, now_ms=NOW) for i in range(30)),
        return_exceptions=True,
    )

    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, GroupFull)
    ]
    assert unexpected == []
    assert sum(1 for r in results if isinstance(r, GroupFull)) == 21
    final = await groups.get(group.id)
    assert final is not None
    version, ids = await groups.member_ids(group.id)
    assert final.member_count == len(ids) == 10
    assert version == final.member_version == group.member_version + 9


async def test_remove_member_drops_the_membership_once(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)

    assert await groups.remove_member(group.id, 11)
    after = await groups.get(group.id)
    assert not await groups.remove_member(group.id, 11)

    assert after is not None
    assert after.member_count == 2
    assert after.member_version > group.member_version
    assert await groups.get(group.id) == after
    assert await groups.member(group.id, 11) is None
    assert await groups.member_ids(group.id) == (after.member_version, {OWNER, 12})


async def test_a_removed_user_can_be_added_again(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)
    await groups.remove_member(group.id, 11)

    updated = await groups.add_members(group.id, {11}, max_members=10, now_ms=NOW + 9)

    assert updated.member_count == 2
    member = await groups.member(group.id, 11)
    assert member is not None
    assert (member.role, member.joined_at) == ("member", NOW + 9)


async def test_groups_are_independent(groups: GroupStore) -> None:
    g1 = await groups.create(name="one", owner_id=OWNER, member_ids={11}, now_ms=NOW)
    g2 = await groups.create(name="two", owner_id=11, member_ids={12}, now_ms=NOW)

    await groups.add_members(g1.id, {13}, max_members=10, now_ms=NOW)
    await groups.remove_member(g2.id, 12)

    assert g1.id != g2.id
    assert (await groups.member_ids(g1.id))[1] == {OWNER, 11, 13}
    assert (await groups.member_ids(g2.id))[1] == {11}
    member = await groups.member(g2.id, 11)
    assert member is not None
    assert member.role == "owner"


async def test_concurrent_adds_and_removes_keep_the_count_true(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids=set(range(11, 21)), now_ms=NOW)

    await asyncio.gather(
        *(groups.add_members(group.id, {100 + i}, max_members=100, now_ms=NOW) for i in range(10)),
        *(groups.remove_member(group.id, 11 + i) for i in range(10)),
        *(groups.remove_member(group.id, 11 + i) for i in range(5)),
    )

    final = await groups.get(group.id)
    version, ids = await groups.member_ids(group.id)
    assert final is not None
    assert ids == {OWNER} | set(range(100, 110))
    assert final.member_count == len(ids) == 11
    assert version == final.member_version == group.member_version + 20


async def test_groups_of_lists_a_users_groups_by_ascending_id_in_pages(groups: GroupStore) -> None:
    mine = [
        (await groups.create(name=f"g{i}", owner_id=OWNER, member_ids={11}, now_ms=NOW)).id
        for i in range(3)
    ]
    joined = await groups.create(name="joined", owner_id=12, member_ids=set(), now_ms=NOW)
    await groups.add_members(joined.id, {OWNER}, max_members=10, now_ms=NOW + 1)
    await groups.create(name="other", owner_id=12, member_ids={13}, now_ms=NOW)
    everything = [*mine, joined.id]

    first = await groups.groups_of(OWNER, after_group_id=0, limit=3)
    rest = await groups.groups_of(OWNER, after_group_id=first[-1].id, limit=3)

    assert [g.id for g in first] == everything[:3]
    assert [g.id for g in rest] == everything[3:]
    assert rest[0] == await groups.get(joined.id)
    assert await groups.groups_of(OWNER, after_group_id=everything[-1], limit=3) == []
    assert [g.id for g in await groups.groups_of(11, after_group_id=0, limit=10)] == mine
    assert await groups.groups_of(99, after_group_id=0, limit=10) == []


async def test_groups_of_forgets_a_group_once_the_user_is_removed(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)

    await groups.remove_member(group.id, 11)

    assert await groups.groups_of(11, after_group_id=0, limit=10) == []
    assert [g.member_count for g in await groups.groups_of(OWNER, after_group_id=0, limit=10)] == [
        1
    ]


async def test_set_role_changes_one_member_and_misses_non_members(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)

    changed = await groups.set_role(group.id, 11, "admin")

    assert changed is not None
    assert (changed.user_id, changed.role, changed.joined_at) == (11, "admin", NOW)
    assert {(m.user_id, m.role) for m in await groups.members(group.id)} == {
        (OWNER, "owner"),
        (11, "admin"),
        (12, "member"),
    }
    assert await groups.set_role(group.id, 99, "admin") is None
    assert await groups.member(group.id, 99) is None


async def test_transfer_swaps_owner_and_keeps_members(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)

    moved = await groups.transfer(group.id, 12)

    assert (moved.owner_id, moved.member_count, moved.dissolved) == (12, 3, False)
    assert await groups.get(group.id) == moved
    assert {(m.user_id, m.role) for m in await groups.members(group.id)} == {
        (OWNER, "admin"),
        (11, "member"),
        (12, "owner"),
    }


async def test_dissolve_marks_the_group_and_keeps_its_members(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)
    other = await groups.create(name="h", owner_id=OWNER, member_ids=set(), now_ms=NOW)
    assert not group.dissolved

    dissolved = await groups.dissolve(group.id)

    assert dissolved.dissolved
    assert (dissolved.name, dissolved.owner_id, dissolved.member_count) == ("g", OWNER, 2)
    stored = await groups.get(group.id)
    assert stored is not None
    assert stored.dissolved
    assert (await groups.member_ids(group.id))[1] == {OWNER, 11}
    still = await groups.get(other.id)
    assert still is not None
    assert not still.dissolved


async def test_edit_changes_only_the_fields_given(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids=set(), now_ms=NOW)
    assert group.notice == ""

    noticed = await groups.edit(group.id, notice="Rules:\n1. be kind 🚀")
    renamed = await groups.edit(group.id, name="Team")
    unchanged = await groups.edit(group.id)

    assert (noticed.name, noticed.notice) == ("g", "Rules:\n1. be kind 🚀")
    assert (renamed.name, renamed.notice) == ("Team", "Rules:\n1. be kind 🚀")
    assert unchanged == renamed == await groups.get(group.id)


async def test_set_mute_is_stored_listed_and_cleared(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)
    assert await groups.mutes(group.id) == {}

    muted = await groups.set_mute(group.id, 11, NOW + 60_000)

    assert muted is not None
    assert (muted.user_id, muted.role, muted.muted_until) == (11, "member", NOW + 60_000)
    assert await groups.mutes(group.id) == {11: NOW + 60_000}
    assert {m.user_id: m.muted_until for m in await groups.members(group.id)} == {
        OWNER: 0,
        11: NOW + 60_000,
        12: 0,
    }
    assert await groups.set_mute(group.id, 99, NOW) is None
    cleared = await groups.set_mute(group.id, 11, 0)
    assert cleared is not None
    assert cleared.muted_until == 0
    assert await groups.mutes(group.id) == {}


async def test_edit_sets_and_clears_avatar_url_and_mute_all(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11}, now_ms=NOW)
    assert (group.avatar_url, group.muted) == ("", False)

    pictured = await groups.edit(group.id, avatar_url="https://img.example/a.png")
    muted = await groups.edit(group.id, muted=True)

    assert (pictured.avatar_url, pictured.muted) == ("https://img.example/a.png", False)
    assert (muted.name, muted.avatar_url, muted.muted) == ("g", "https://img.example/a.png", True)
    assert await groups.get(group.id) == muted
    cleared = await groups.edit(group.id, avatar_url="", muted=False)
    assert (cleared.avatar_url, cleared.muted) == ("", False)


async def test_moderators_are_the_owner_and_the_admins(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)
    assert await groups.moderators(group.id) == {OWNER}

    await groups.set_role(group.id, 12, "admin")
    assert await groups.moderators(group.id) == {OWNER, 12}
    await groups.transfer(group.id, 11)
    assert await groups.moderators(group.id) == {OWNER, 11, 12}
    await groups.set_role(group.id, OWNER, "member")
    assert await groups.moderators(group.id) == {11, 12}
    assert await groups.moderators(group.id + 1000) == set()


async def test_members_page_walks_every_member_once_in_join_order(groups: GroupStore) -> None:
    group = await groups.create(name="g", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)
    await groups.add_members(group.id, {13, 14}, max_members=100, now_ms=NOW + 1)
    await groups.remove_member(group.id, 11)
    await groups.add_members(group.id, {11}, max_members=100, now_ms=NOW + 2)
    other = await groups.create(name="h", owner_id=OWNER, member_ids={15}, now_ms=NOW)

    seen: list[int] = []
    after = 0
    while page := await groups.members_page(group.id, after_position=after, limit=2):
        assert len(page) <= 2
        seen += [m.user_id for m in page]
        after = page[-1].position

    # The rejoined member comes last: a rejoin is a new join.
    assert seen == [OWNER, 12, 13, 14, 11]
    assert seen == [m.user_id for m in await groups.members(group.id)]
    assert [m.user_id for m in await groups.members_page(other.id, after_position=0, limit=9)] == [
        OWNER,
        15,
    ]
    assert await groups.members_page(group.id + 1000, after_position=0, limit=9) == []


async def test_dissolved_among_names_only_dissolved_groups(groups: GroupStore) -> None:
    gone = await groups.create(name="g", owner_id=OWNER, member_ids=set(), now_ms=NOW)
    kept = await groups.create(name="h", owner_id=OWNER, member_ids=set(), now_ms=NOW)
    assert await groups.dissolved_among({gone.id, kept.id}) == set()

    await groups.dissolve(gone.id)

    assert await groups.dissolved_among({gone.id, kept.id, kept.id + 1000}) == {gone.id}
    assert await groups.dissolved_among({kept.id}) == set()
    assert await groups.dissolved_among(set()) == set()


async def share_group(groups: GroupStore, user_a: int, user_b: int) -> bool:
    return user_b in await groups.co_members(user_a, {user_b})


async def test_two_users_share_a_group_only_in_one_live_group_holding_both(
    groups: GroupStore,
) -> None:
    alice, bob, carol = 21, 22, 23
    first = await groups.create(name="a-b", owner_id=alice, member_ids={bob}, now_ms=NOW)
    await groups.create(name="b-c", owner_id=bob, member_ids={carol}, now_ms=NOW)

    assert await share_group(groups, alice, bob)
    assert await share_group(groups, bob, alice)
    assert await share_group(groups, bob, carol)
    # Each is in a group with bob, but no group holds them both.
    assert not await share_group(groups, alice, carol)
    assert not await share_group(groups, alice, 999)

    await groups.remove_member(first.id, bob)
    assert not await share_group(groups, alice, bob)

    await groups.add_members(first.id, {bob}, now_ms=NOW, max_members=100)
    assert await share_group(groups, alice, bob)
    # A dissolved group keeps its members but no longer counts as shared.
    await groups.dissolve(first.id)
    assert not await share_group(groups, alice, bob)
    assert await share_group(groups, bob, carol)


async def test_co_members_are_the_candidates_in_a_live_group_with_the_user(
    groups: GroupStore,
) -> None:
    await groups.create(name="a", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)
    await groups.create(name="b", owner_id=13, member_ids={OWNER}, now_ms=NOW)
    await groups.create(name="elsewhere", owner_id=20, member_ids={21}, now_ms=NOW)

    shared = await groups.co_members(OWNER, {OWNER, 11, 12, 13, 20, 21, 999})

    assert shared == {OWNER, 11, 12, 13}
    assert await groups.co_members(OWNER, set()) == set()
    assert await groups.co_members(999, {OWNER, 11}) == set()


async def test_a_dissolved_group_no_longer_makes_co_members(groups: GroupStore) -> None:
    live = await groups.create(name="live", owner_id=OWNER, member_ids={11}, now_ms=NOW)
    gone = await groups.create(name="gone", owner_id=OWNER, member_ids={11, 12}, now_ms=NOW)
    await groups.dissolve(gone.id)

    assert await groups.co_members(OWNER, {11, 12}) == {11}
    await groups.remove_member(live.id, 11)
    assert await groups.co_members(OWNER, {11, 12}) == set()
