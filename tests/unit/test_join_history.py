"""Join-time history: the window rules, and ChatService applying them to history, list, fan-out."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gomicroim.errors import Forbidden
from gomicroim.modules.chat.contract import MessageRead, MessageSend
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.chat.visibility import (
    FormerMemberHistory,
    SeqWindow,
    current_start,
    floor_read_seq,
    readable,
    visible_last,
)
from gomicroim.modules.groups.contract import GroupCreate
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import (
    FakeClock,
    MemoryChatStore,
    MemoryGroupStore,
    MemoryVisibilityStore,
    StaticDirectory,
)

A, B, C, D = 1, 2, 3, 4
PAST = SeqWindow(start=2, end=4)
EMPTY = SeqWindow(start=6, end=5)
NOW = SeqWindow(start=9)


# --- the rules -----------------------------------------------------------------------------


def test_a_member_reads_only_the_current_spell_by_default() -> None:
    assert readable([NOW, PAST], member=True, former="none") == [NOW]


def test_while_member_adds_the_past_spells_oldest_first() -> None:
    assert readable([NOW, EMPTY, PAST], member=True, former="while_member") == [PAST, NOW]


def test_a_former_member_reads_their_spells_only_with_while_member() -> None:
    assert readable([PAST], member=False, former="none") == []
    assert readable([PAST, EMPTY], member=False, former="while_member") == [PAST]


def test_without_a_window_nothing_is_readable() -> None:
    assert readable([], member=True, former="while_member") == []


def test_a_window_holds_its_bounds() -> None:
    assert [s for s in range(10) if PAST.holds(s)] == [2, 3, 4]
    assert NOW.holds(10**12)
    assert not NOW.holds(8)


def test_the_current_start_is_the_open_windows() -> None:
    assert current_start([PAST, NOW]) == 9
    assert current_start([PAST]) is None


def _message(seq: int) -> MessageRead:
    return MessageRead(
        conversation_id="g:1",
        seq=seq,
        sender_id=A,
        to=1,
        session_type="group",
        client_msg_id=f"m{seq}",
        msg_type="text",
        body="x",
        created_at=0,
    )


def test_a_last_message_before_the_window_is_not_shown() -> None:
    assert visible_last(_message(8), 9) is None
    assert visible_last(_message(9), 9) == _message(9)
    assert visible_last(None, 1) is None


def test_what_came_before_the_window_counts_as_read() -> None:
    assert floor_read_seq(0, 9) == 8
    assert floor_read_seq(12, 9) == 12


# --- the service ---------------------------------------------------------------------------


@dataclass
class World:
    see_history: bool = False
    former: FormerMemberHistory = "none"
    clock: FakeClock = field(default_factory=lambda: FakeClock(1_000_000))

    def __post_init__(self) -> None:
        users = StaticDirectory({A, B, C, D})
        self.store = MemoryChatStore()
        self.group_store = MemoryGroupStore()
        self.groups = GroupsService(
            store=self.group_store,
            users=users,
            max_members=100,
            clock=self.clock,
            member_cache_ttl_s=0,
        )
        # Another process over the same groups, whose changes this chat does not watch.
        self.elsewhere = GroupsService(
            store=self.group_store, users=users, max_members=100, clock=self.clock
        )
        self.chat = ChatService(
            store=self.store,
            users=users,
            groups=self.groups,
            max_body_bytes=1000,
            clock=self.clock,
            windows=MemoryVisibilityStore(self.store),
            new_members_see_history=self.see_history,
            former_member_history=self.former,
        )
        self.sent = 0

    async def group(self) -> int:
        return (await self.groups.create(A, GroupCreate(name="g", member_ids=[B]))).id

    async def send(self, gid: int, count: int = 1) -> list[MessageRead]:
        out = []
        for _ in range(count):
            self.sent += 1
            request = MessageSend(
                to=gid, session_type="group", client_msg_id=f"c{self.sent}", msg_type="text",
                body=f"b{self.sent}",
            )  # fmt: skip
            out.append((await self.chat.send(A, "phone", request)).message)
        return out

    async def seen(self, user_id: int, gid: int, **cursor: int) -> list[int]:
        page = await self.chat.history(
            user_id, f"g:{gid}", before_seq=cursor.get("before"), after_seq=cursor.get("after")
        )
        return [m.seq for m in page.messages]


async def test_a_member_added_later_reads_from_their_join_on() -> None:
    world = World()
    gid = await world.group()
    await world.send(gid, 3)
    await world.groups.add_members(gid, A, [C])
    await world.send(gid, 2)

    # 1 group_created, 2..4, 5 member_added (C's window opens with it), 6..7.
    assert await world.seen(C, gid) == [5, 6, 7]
    assert await world.seen(C, gid, after=0) == [5, 6, 7]
    assert await world.seen(C, gid, before=7) == [5, 6]
    assert await world.seen(B, gid) == [1, 2, 3, 4, 5, 6, 7]


async def test_with_new_members_see_history_a_later_member_reads_everything() -> None:
    world = World(see_history=True)
    gid = await world.group()
    await world.send(gid, 3)
    await world.groups.add_members(gid, A, [C])

    assert await world.seen(C, gid) == [1, 2, 3, 4, 5]


async def test_the_list_shows_a_later_member_nothing_from_before_their_join() -> None:
    world = World()
    gid = await world.group()
    await world.send(gid, 3)
    await world.groups.add_members(gid, A, [C])

    # C's own member_added (seq 5) is the first message of their window.
    [entry] = (await world.chat.conversations(C)).conversations
    assert entry.last_message is not None
    assert (entry.last_message.seq, entry.last_message.msg_type) == (5, "system")
    assert (entry.unread, entry.read_seq, entry.last_seq) == (1, 4, 5)

    await world.send(gid)
    [entry] = (await world.chat.conversations(C)).conversations
    assert entry.last_message is not None
    assert (entry.last_message.seq, entry.unread) == (6, 2)


async def test_rejoining_opens_a_new_window_and_what_was_sent_while_away_stays_hidden() -> None:
    world = World()
    gid = await world.group()
    await world.send(gid, 2)
    await world.groups.remove_member(gid, B, B)
    await world.send(gid, 2)
    await world.groups.add_members(gid, A, [B])
    await world.send(gid)

    # 1 created, 2-3, 4 member_left, 5-6, 7 member_added, 8.
    assert await world.seen(B, gid) == [7, 8]
    [entry] = (await world.chat.conversations(B)).conversations
    assert entry.unread == 2


async def test_a_rejoined_member_with_while_member_reads_every_spell_but_not_the_gap() -> None:
    world = World(former="while_member")
    gid = await world.group()
    await world.send(gid, 2)
    await world.groups.remove_member(gid, B, B)
    await world.send(gid, 2)
    await world.groups.add_members(gid, A, [B])
    await world.send(gid)

    # The first spell ends before B's own member_left (stored after the leave).
    assert await world.seen(B, gid) == [1, 2, 3, 7, 8]


@pytest.mark.parametrize("former", ["none", "while_member"])
async def test_a_former_member_reads_their_spell_only_with_while_member(
    former: FormerMemberHistory,
) -> None:
    world = World(former=former)
    gid = await world.group()
    await world.send(gid, 2)
    await world.groups.remove_member(gid, A, B)
    await world.send(gid, 2)

    if former == "none":
        with pytest.raises(Forbidden) as refused:
            await world.seen(B, gid)
        assert refused.value.code == "not_a_member"
    else:
        # group_created and the two sends; member_removed came after the removal.
        assert await world.seen(B, gid) == [1, 2, 3]
    # Reading is no write: a former member still may not move a read position.
    with pytest.raises(Forbidden):
        await world.chat.mark_read(B, f"g:{gid}", 2)


async def test_someone_who_never_was_a_member_is_refused_with_while_member() -> None:
    world = World(former="while_member")
    gid = await world.group()
    await world.send(gid)

    with pytest.raises(Forbidden) as refused:
        await world.seen(C, gid)
    assert refused.value.code == "not_a_member"


async def test_fan_out_leaves_out_members_who_joined_after_the_message() -> None:
    world = World()
    gid = await world.group()
    [early] = await world.send(gid)
    await world.groups.add_members(gid, A, [C])
    [late] = await world.send(gid)
    members = await world.groups.member_set(gid)

    assert await world.chat.group_audience(early, members) == {A, B}
    assert await world.chat.group_audience(late, members) == {A, B, C}


async def test_fan_out_answers_stay_right_as_messages_and_joins_follow_each_other() -> None:
    # The late joiners of a group are remembered per membership version between messages.
    world = World()
    gid = await world.group()
    [first] = await world.send(gid)
    assert await world.chat.group_audience(first, await world.groups.member_set(gid)) == {A, B}
    await world.groups.add_members(gid, A, [C])
    [second] = await world.send(gid)
    [third] = await world.send(gid)
    members = await world.groups.member_set(gid)

    assert await world.chat.group_audience(third, members) == {A, B, C}
    assert await world.chat.group_audience(second, members) == {A, B, C}
    assert await world.chat.group_audience(first, members) == {A, B}
    await world.groups.add_members(gid, A, [D])
    after_d = await world.groups.member_set(gid)
    assert await world.chat.group_audience(third, after_d) == {A, B, C}
    [fourth] = await world.send(gid)
    assert await world.chat.group_audience(fourth, after_d) == {A, B, C, D}


async def test_fan_out_ahead_of_chat_records_the_join_after_the_message() -> None:
    world = World()
    gid = await world.group()
    [early] = await world.send(gid)
    # The membership changes where chat does not hear of it (another process, a lagging watcher).
    await world.elsewhere.add_members(gid, A, [C])
    members = await world.groups.member_set(gid)

    assert await world.chat.group_audience(early, members) == {A, B}
    [late] = await world.send(gid)
    assert await world.chat.group_audience(late, members) == {A, B, C}
    assert await world.seen(C, gid) == [late.seq]


async def test_with_see_history_fan_out_reaches_every_member() -> None:
    world = World(see_history=True)
    gid = await world.group()
    [early] = await world.send(gid)
    await world.groups.add_members(gid, A, [C])

    assert await world.chat.group_audience(early, await world.groups.member_set(gid)) == {A, B, C}
