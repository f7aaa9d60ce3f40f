"""GroupsService over fakes: who may see, add and remove, and the member limit."""

from __future__ import annotations

import msgspec
import pytest

from gomicroim.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from gomicroim.modules.groups.contract import GroupCreate, GroupEdit, GroupPage
from gomicroim.modules.groups.ports import GroupRecord, MemberRecord
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import FakeClock, MemoryGroupStore, StaticDirectory

OWNER, ADMIN, MEMBER, OUTSIDER, NEWCOMER = 1, 2, 3, 4, 5
MAX = 6


@pytest.fixture
def store() -> MemoryGroupStore:
    return MemoryGroupStore()


@pytest.fixture
def groups(store: MemoryGroupStore) -> GroupsService:
    return GroupsService(
        store=store,
        users=StaticDirectory(range(1, 21)),
        max_members=MAX,
        max_name_chars=8,
        max_notice_chars=10,
        clock=FakeClock(1_000),
    )


@pytest.fixture
async def gid(groups: GroupsService, store: MemoryGroupStore) -> int:
    """A group with an owner, an admin and a plain member."""
    group = await groups.create(OWNER, GroupCreate(name="team", member_ids=[ADMIN, MEMBER]))
    await store.set_role(group.id, ADMIN, "admin")
    return group.id


async def fails(call: object, kind: type[AppError], code: str) -> None:
    with pytest.raises(kind) as err:
        await call  # type: ignore[misc]
    assert err.value.code == code


async def test_the_creator_owns_the_group_and_need_not_list_themselves(
    groups: GroupsService,
) -> None:
    group = await groups.create(OWNER, GroupCreate(name="g", member_ids=[OWNER, 7, 7, 8]))

    assert (group.name, group.owner_id, group.member_count, group.created_at) == (
        "g",
        OWNER,
        3,
        1_000,
    )
    members = await groups.members(group.id, OWNER)
    assert [(m.user_id, m.role) for m in members.members] == [
        (OWNER, "owner"),
        (7, "member"),
        (8, "member"),
    ]


async def test_a_group_can_be_created_alone(groups: GroupsService) -> None:
    group = await groups.create(OWNER, GroupCreate(name="me"))

    assert group.member_count == 1


async def test_creating_with_an_unknown_user_is_refused(groups: GroupsService) -> None:
    await fails(
        groups.create(OWNER, GroupCreate(name="g", member_ids=[7, 999])), NotFound, "user_not_found"
    )


async def test_creating_past_the_limit_is_refused(groups: GroupsService) -> None:
    await groups.create(OWNER, GroupCreate(name="ok", member_ids=list(range(2, MAX + 1))))

    await fails(
        groups.create(OWNER, GroupCreate(name="g", member_ids=list(range(2, MAX + 2)))),
        Conflict,
        "group_full",
    )


async def test_members_see_the_group_and_outsiders_do_not(groups: GroupsService, gid: int) -> None:
    for user in (OWNER, ADMIN, MEMBER):
        assert (await groups.get(gid, user)).member_count == 3
        assert len((await groups.members(gid, user)).members) == 3

    await fails(groups.get(gid, OUTSIDER), Forbidden, "not_a_member")
    await fails(groups.members(gid, OUTSIDER), Forbidden, "not_a_member")


async def test_an_unknown_group_is_not_found(groups: GroupsService) -> None:
    await fails(groups.get(404, OWNER), NotFound, "group_not_found")
    await fails(groups.members(404, OWNER), NotFound, "group_not_found")
    await fails(groups.add_members(404, OWNER, [7]), NotFound, "group_not_found")
    await fails(groups.remove_member(404, OWNER, 7), NotFound, "group_not_found")
    await fails(groups.member_set(404), NotFound, "group_not_found")
    assert not await groups.is_member(404, OWNER)


@pytest.mark.parametrize("adder", [OWNER, ADMIN])
async def test_owner_and_admins_add_members(groups: GroupsService, gid: int, adder: int) -> None:
    result = await groups.add_members(gid, adder, [NEWCOMER, MEMBER])

    assert [m.user_id for m in result.members] == [OWNER, ADMIN, MEMBER, NEWCOMER]
    assert await groups.is_member(gid, NEWCOMER)


async def test_plain_members_and_outsiders_cannot_add(groups: GroupsService, gid: int) -> None:
    await fails(groups.add_members(gid, MEMBER, [NEWCOMER]), Forbidden, "not_an_admin")
    await fails(groups.add_members(gid, OUTSIDER, [NEWCOMER]), Forbidden, "not_a_member")
    assert not await groups.is_member(gid, NEWCOMER)


async def test_adding_an_unknown_user_adds_nobody(groups: GroupsService, gid: int) -> None:
    await fails(groups.add_members(gid, OWNER, [NEWCOMER, 999]), NotFound, "user_not_found")

    assert not await groups.is_member(gid, NEWCOMER)


async def test_adding_past_the_limit_adds_nobody(groups: GroupsService, gid: int) -> None:
    await fails(groups.add_members(gid, OWNER, [10, 11, 12, 13]), Conflict, "group_full")

    assert (await groups.get(gid, OWNER)).member_count == 3
    await groups.add_members(gid, OWNER, [10, 11, 12])
    assert (await groups.get(gid, OWNER)).member_count == MAX


async def test_a_member_may_leave(groups: GroupsService, gid: int) -> None:
    await groups.remove_member(gid, MEMBER, MEMBER)

    assert not await groups.is_member(gid, MEMBER)
    await fails(groups.get(gid, MEMBER), Forbidden, "not_a_member")


async def test_the_owner_removes_anyone_but_themselves(groups: GroupsService, gid: int) -> None:
    await groups.remove_member(gid, OWNER, ADMIN)
    await groups.remove_member(gid, OWNER, MEMBER)

    assert [m.user_id for m in (await groups.members(gid, OWNER)).members] == [OWNER]
    await fails(groups.remove_member(gid, OWNER, OWNER), Conflict, "owner_cannot_leave")


async def test_an_admin_removes_plain_members_only(
    groups: GroupsService, store: MemoryGroupStore, gid: int
) -> None:
    await groups.add_members(gid, OWNER, [NEWCOMER])
    await store.set_role(gid, NEWCOMER, "admin")

    await fails(groups.remove_member(gid, ADMIN, NEWCOMER), Forbidden, "not_an_admin")
    await fails(groups.remove_member(gid, ADMIN, OWNER), Conflict, "owner_cannot_leave")
    await groups.remove_member(gid, ADMIN, MEMBER)
    assert not await groups.is_member(gid, MEMBER)


async def test_plain_members_and_outsiders_cannot_remove_others(
    groups: GroupsService, gid: int
) -> None:
    await fails(groups.remove_member(gid, MEMBER, ADMIN), Forbidden, "not_an_admin")
    await fails(groups.remove_member(gid, OUTSIDER, MEMBER), Forbidden, "not_a_member")
    assert await groups.is_member(gid, MEMBER)


async def test_removing_a_non_member_is_not_found(groups: GroupsService, gid: int) -> None:
    await fails(groups.remove_member(gid, OWNER, OUTSIDER), NotFound, "member_not_found")


async def test_membership_version_moves_with_every_change(groups: GroupsService, gid: int) -> None:
    v1 = await groups.membership_version(gid, MEMBER)
    await groups.add_members(gid, OWNER, [NEWCOMER])
    v2 = await groups.membership_version(gid, MEMBER)
    await groups.add_members(gid, OWNER, [NEWCOMER])
    v3 = await groups.membership_version(gid, MEMBER)
    await groups.remove_member(gid, NEWCOMER, NEWCOMER)
    v4 = await groups.membership_version(gid, MEMBER)

    assert v1 < v2 == v3 < v4
    await fails(groups.membership_version(gid, OUTSIDER), Forbidden, "not_a_member")


async def test_member_set_is_ids_with_the_version(groups: GroupsService, gid: int) -> None:
    members = await groups.member_set(gid)

    assert members.group_id == gid
    assert members.user_ids == frozenset({OWNER, ADMIN, MEMBER})
    assert members.version == await groups.membership_version(gid, OWNER)


# --- the caller's groups -----------------------------------------------------------------------


async def test_my_groups_pages_through_every_group_of_the_caller_once(
    groups: GroupsService,
) -> None:
    mine = [
        (
            await groups.create(
                OWNER if i % 2 else MEMBER,
                GroupCreate(name=f"g{i}", member_ids=[MEMBER if i % 2 else OWNER]),
            )
        ).id
        for i in range(5)
    ]
    await groups.create(ADMIN, GroupCreate(name="not mine", member_ids=[NEWCOMER]))

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await groups.groups_of(OWNER, limit=2, cursor=cursor)
        pages += 1
        seen += [g.id for g in page.groups]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == mine
    assert pages == 3
    assert await groups.groups_of(OUTSIDER, limit=2, cursor=None) == GroupPage(
        groups=[], next_cursor=None
    )


async def test_a_page_that_ends_exactly_at_the_last_group_has_no_next_cursor(
    groups: GroupsService,
) -> None:
    for i in range(2):
        await groups.create(OWNER, GroupCreate(name=f"g{i}"))

    page = await groups.groups_of(OWNER, limit=2, cursor=None)

    assert [g.name for g in page.groups] == ["g0", "g1"]
    assert page.next_cursor is None


async def test_a_group_left_is_no_longer_listed(groups: GroupsService, gid: int) -> None:
    await groups.remove_member(gid, MEMBER, MEMBER)

    assert (await groups.groups_of(MEMBER, limit=10, cursor=None)).groups == []
    assert [g.id for g in (await groups.groups_of(ADMIN, limit=10, cursor=None)).groups] == [gid]


@pytest.mark.parametrize("cursor", ["", "abc", "-1", "1.5", " 1", "١٢", "9" * 17])
async def test_a_cursor_the_server_did_not_issue_is_refused(
    groups: GroupsService, cursor: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        await groups.groups_of(OWNER, limit=10, cursor=cursor)

    assert (err.value.code, err.value.field) == ("invalid_field", "cursor")


# --- roles, transfer, dissolve -----------------------------------------------------------------


async def test_the_owner_promotes_and_demotes(groups: GroupsService, gid: int) -> None:
    promoted = await groups.set_role(gid, OWNER, MEMBER, "admin")

    assert (promoted.user_id, promoted.role) == (MEMBER, "admin")
    await groups.add_members(gid, MEMBER, [NEWCOMER])
    assert await groups.is_member(gid, NEWCOMER)
    await groups.set_role(gid, OWNER, MEMBER, "member")
    await fails(groups.add_members(gid, MEMBER, [OUTSIDER]), Forbidden, "not_an_admin")


async def test_only_the_owner_changes_roles(groups: GroupsService, gid: int) -> None:
    await fails(groups.set_role(gid, ADMIN, MEMBER, "admin"), Forbidden, "not_the_owner")
    await fails(groups.set_role(gid, MEMBER, MEMBER, "admin"), Forbidden, "not_the_owner")
    await fails(groups.set_role(gid, OUTSIDER, MEMBER, "admin"), Forbidden, "not_a_member")
    await fails(groups.set_role(gid, OWNER, OUTSIDER, "admin"), NotFound, "member_not_found")
    await fails(groups.set_role(gid, OWNER, OWNER, "member"), Conflict, "cannot_change_owner_role")
    roles = {m.user_id: m.role for m in (await groups.members(gid, OWNER)).members}
    assert roles == {OWNER: "owner", ADMIN: "admin", MEMBER: "member"}


async def test_a_transfer_makes_the_old_owner_an_admin_who_may_then_leave(
    groups: GroupsService, gid: int
) -> None:
    await fails(groups.remove_member(gid, OWNER, OWNER), Conflict, "owner_cannot_leave")

    group = await groups.transfer(gid, OWNER, MEMBER)

    assert group.owner_id == MEMBER
    roles = {m.user_id: m.role for m in (await groups.members(gid, MEMBER)).members}
    assert roles == {OWNER: "admin", ADMIN: "admin", MEMBER: "owner"}
    await groups.remove_member(gid, OWNER, OWNER)
    assert not await groups.is_member(gid, OWNER)


async def test_only_the_owner_transfers_to_a_member(groups: GroupsService, gid: int) -> None:
    await fails(groups.transfer(gid, ADMIN, MEMBER), Forbidden, "not_the_owner")
    await fails(groups.transfer(gid, OUTSIDER, MEMBER), Forbidden, "not_a_member")
    await fails(groups.transfer(gid, OWNER, OUTSIDER), NotFound, "member_not_found")
    await fails(groups.transfer(gid, OWNER, OWNER), Conflict, "already_owner")
    assert (await groups.get(gid, OWNER)).owner_id == OWNER


async def test_a_dissolved_group_stays_visible_but_nobody_sends_or_changes_it(
    groups: GroupsService, gid: int
) -> None:
    await fails(groups.dissolve(gid, ADMIN), Forbidden, "not_the_owner")
    await fails(groups.dissolve(gid, OUTSIDER), Forbidden, "not_a_member")
    assert (await groups.sendable_version(gid, MEMBER)) >= 1

    dissolved = await groups.dissolve(gid, OWNER)

    assert dissolved.dissolved
    assert (await groups.get(gid, MEMBER)).dissolved
    assert (await groups.dissolve(gid, OWNER)).dissolved  # idempotent
    await fails(groups.sendable_version(gid, MEMBER), Forbidden, "group_dissolved")
    await fails(groups.add_members(gid, OWNER, [NEWCOMER]), Forbidden, "group_dissolved")
    await fails(groups.set_role(gid, OWNER, MEMBER, "admin"), Forbidden, "group_dissolved")
    await fails(groups.transfer(gid, OWNER, MEMBER), Forbidden, "group_dissolved")
    await fails(groups.remove_member(gid, OWNER, MEMBER), Forbidden, "group_dissolved")
    # Members may still leave it, the owner too.
    await groups.remove_member(gid, MEMBER, MEMBER)
    await groups.remove_member(gid, OWNER, OWNER)
    assert not await groups.is_member(gid, OWNER)


async def test_an_operator_dissolves_any_group(groups: GroupsService, gid: int) -> None:
    assert (await groups.dissolve(gid, None)).dissolved
    await fails(groups.dissolve(gid + 1000, None), NotFound, "group_not_found")


async def test_owner_and_admins_edit_name_and_notice_within_the_limits(
    groups: GroupsService, gid: int
) -> None:
    renamed = await groups.edit(gid, ADMIN, GroupEdit(name="renamed"))
    assert (renamed.name, renamed.notice) == ("renamed", "")
    noticed = await groups.edit(gid, OWNER, GroupEdit(notice="be\nnice"))
    assert (noticed.name, noticed.notice) == ("renamed", "be\nnice")
    assert await groups.get(gid, MEMBER) == noticed

    await fails(groups.edit(gid, MEMBER, GroupEdit(name="x")), Forbidden, "not_an_admin")
    await fails(groups.edit(gid, OUTSIDER, GroupEdit(name="x")), Forbidden, "not_a_member")
    await fails(groups.edit(gid, OWNER, GroupEdit(name="n" * 9)), InvalidInput, "invalid_field")
    await fails(groups.edit(gid, OWNER, GroupEdit(notice="n" * 11)), InvalidInput, "invalid_field")
    await groups.dissolve(gid, OWNER)
    await fails(groups.edit(gid, OWNER, GroupEdit(name="x")), Forbidden, "group_dissolved")
    assert await groups.get(gid, MEMBER) == msgspec.structs.replace(noticed, dissolved=True)


async def test_a_muted_member_cannot_send_until_the_mute_ends_or_is_lifted(
    groups: GroupsService, gid: int
) -> None:
    muted = await groups.mute(gid, ADMIN, MEMBER, 2_000)

    assert (muted.user_id, muted.muted_until) == (MEMBER, 2_000)
    await fails(groups.sendable_version(gid, MEMBER), Forbidden, "member_muted")
    assert await groups.sendable_version(gid, ADMIN) >= 1
    listed = {m.user_id: m.muted_until for m in (await groups.members(gid, OWNER)).members}
    assert listed == {OWNER: 0, ADMIN: 0, MEMBER: 2_000}
    unmuted = await groups.mute(gid, OWNER, MEMBER, None)
    assert unmuted.muted_until == 0
    assert await groups.sendable_version(gid, MEMBER) >= 1


async def test_a_mute_ends_by_itself(store: MemoryGroupStore) -> None:
    clock = FakeClock(1_000)
    groups = GroupsService(
        store=store, users=StaticDirectory(range(1, 21)), max_members=MAX, clock=clock
    )
    gid = (await groups.create(OWNER, GroupCreate(name="g", member_ids=[MEMBER]))).id
    await groups.mute(gid, OWNER, MEMBER, 1_500)
    await fails(groups.sendable_version(gid, MEMBER), Forbidden, "member_muted")

    clock.advance(500)

    assert await groups.sendable_version(gid, MEMBER) >= 1


async def test_who_may_mute_whom(groups: GroupsService, gid: int) -> None:
    await fails(groups.mute(gid, ADMIN, ADMIN, 2_000), Forbidden, "not_an_admin")
    await fails(groups.mute(gid, MEMBER, ADMIN, 2_000), Forbidden, "not_an_admin")
    await fails(groups.mute(gid, MEMBER, MEMBER, 2_000), Forbidden, "not_an_admin")
    await fails(groups.mute(gid, OUTSIDER, MEMBER, 2_000), Forbidden, "not_a_member")
    await fails(groups.mute(gid, ADMIN, OWNER, 2_000), Conflict, "cannot_mute_owner")
    await fails(groups.mute(gid, OWNER, OWNER, 2_000), Conflict, "cannot_mute_owner")
    await fails(groups.mute(gid, OWNER, OUTSIDER, 2_000), NotFound, "member_not_found")
    await fails(groups.mute(gid, OWNER, MEMBER, 1_000), InvalidInput, "invalid_field")
    assert (await groups.mute(gid, OWNER, ADMIN, 2_000)).muted_until == 2_000
    await groups.dissolve(gid, OWNER)
    await fails(groups.mute(gid, OWNER, MEMBER, 2_000), Forbidden, "group_dissolved")


class CountingStore(MemoryGroupStore):
    """Counts reads a send check makes, to show a cached mute-all costs none."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def member(self, group_id: int, user_id: int) -> MemberRecord | None:
        self.reads += 1
        return await super().member(group_id, user_id)

    async def get(self, group_id: int) -> GroupRecord | None:
        self.reads += 1
        return await super().get(group_id)

    async def moderators(self, group_id: int) -> set[int]:
        self.reads += 1
        return await super().moderators(group_id)


async def test_mute_all_refuses_plain_members_at_once_and_costs_no_query_once_cached() -> None:
    store = CountingStore()
    groups = GroupsService(store=store, users=StaticDirectory(range(1, 21)), max_members=MAX)
    gid = (await groups.create(OWNER, GroupCreate(name="g", member_ids=[ADMIN, MEMBER]))).id
    await groups.set_role(gid, OWNER, ADMIN, "admin")
    assert await groups.sendable_version(gid, MEMBER) >= 1  # the member set is now cached

    await fails(groups.edit(gid, MEMBER, GroupEdit(muted=True)), Forbidden, "not_an_admin")
    muted = await groups.edit(gid, ADMIN, GroupEdit(muted=True))

    assert muted.muted
    await fails(groups.sendable_version(gid, MEMBER), Forbidden, "group_muted")
    store.reads = 0
    for _ in range(3):
        await fails(groups.sendable_version(gid, MEMBER), Forbidden, "group_muted")
        assert await groups.sendable_version(gid, ADMIN) >= 1
        assert await groups.sendable_version(gid, OWNER) >= 1
    assert store.reads == 0
    await groups.edit(gid, OWNER, GroupEdit(muted=False))
    assert await groups.sendable_version(gid, MEMBER) >= 1
