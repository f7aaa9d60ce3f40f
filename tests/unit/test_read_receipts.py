"""ReadReceiptService over fakes: who read a message, paging, counts and who may ask."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gomicroim.errors import Forbidden, InvalidInput, NotFound
from gomicroim.modules.chat import domain
from gomicroim.modules.chat.contract import (
    MessageSend,
    Reader,
    ReaderPage,
    ReadReceiptsFacade,
    SessionType,
)
from gomicroim.modules.chat.ports import ReaderPosition
from gomicroim.modules.chat.readers import ReadReceiptService
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.groups.contract import GroupCreate
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import FakeClock, MemoryChatStore, MemoryGroupStore, StaticDirectory
from tests.fakes.readers import MemoryReaderStore
from tests.unit.test_chat_service import fails

A, B, C, D = 1, 2, 3, 4
AB = "s:1:2"
MEMBERS = (B, C, D)


@dataclass
class Receipts:
    clock: FakeClock = field(default_factory=lambda: FakeClock(1_000_000))
    directory: StaticDirectory = field(default_factory=lambda: StaticDirectory(set(range(1, 20))))
    group_store: MemoryGroupStore = field(default_factory=MemoryGroupStore)
    store: MemoryChatStore = field(default_factory=MemoryChatStore)

    def __post_init__(self) -> None:
        self.groups = self.groups_process()
        self.chat = ChatService(
            store=self.store, users=self.directory, groups=self.groups, max_body_bytes=64
        )
        self.readers = ReadReceiptService(
            store=MemoryReaderStore(self.store),
            entries=self.store,
            groups=self.groups,
            page_limit=2,
            max_limit=3,
        )

    def groups_process(self) -> GroupsService:
        """Groups over the shared store; no member cache, so no staleness in these tests."""
        return GroupsService(
            store=self.group_store,
            users=self.directory,
            max_members=100,
            member_cache_ttl_s=0,
            clock=self.clock,
        )

    async def group(self, owner: int, *members: int) -> int:
        return (await self.groups.create(owner, GroupCreate(name="g", member_ids=list(members)))).id

    async def send(
        self, sender: int, to: int, client_msg_id: str, session_type: SessionType = "single"
    ) -> None:
        request = MessageSend(
            to=to,
            session_type=session_type,
            client_msg_id=client_msg_id,
            msg_type="text",
            body="hi",
        )
        await self.chat.send(sender, f"dev-{sender}", request)

    async def page(self, user: int, conv: str, seq: int, **kw: int | str) -> ReaderPage:
        return await self.readers.readers(user, conv, seq, **kw)  # type: ignore[arg-type]

    async def every_page(self, user: int, conv: str, seq: int, limit: int) -> list[ReaderPage]:
        pages = [await self.page(user, conv, seq, limit=limit)]
        while pages[-1].next_cursor is not None:
            cursor = pages[-1].next_cursor
            pages.append(await self.page(user, conv, seq, limit=limit, cursor=cursor))
        return pages


@pytest.fixture
def world() -> Receipts:
    return Receipts()


async def _group_with_reads(world: Receipts) -> str:
    """A's group with B, C, D; A sends seqs 2..5 (1: group_created); B read 4, C read 2."""
    gid = await world.group(A, *MEMBERS)
    for n in range(4):
        await world.send(A, gid, f"m{n}", "group")
    conv = f"g:{gid}"
    await world.chat.mark_read(B, conv, 4)
    await world.chat.mark_read(C, conv, 2)
    return conv


def test_the_service_implements_the_facade(world: Receipts) -> None:
    assert isinstance(world.readers, ReadReceiptsFacade)


async def test_readers_leave_out_the_sender_and_count_the_rest(world: Receipts) -> None:
    conv = await _group_with_reads(world)

    early = await world.page(D, conv, 2)
    late = await world.page(D, conv, 3)

    assert early.readers == [Reader(user_id=C, read_seq=2), Reader(user_id=B, read_seq=4)]
    assert (early.read_count, early.unread_count, early.next_cursor) == (2, 1, None)
    assert late.readers == [Reader(user_id=B, read_seq=4)]
    assert (late.read_count, late.unread_count) == (1, 2)
    assert (late.conversation_id, late.seq) == (conv, 3)


async def test_pages_hold_at_most_limit_and_cover_every_reader_once(world: Receipts) -> None:
    gid = await world.group(A, *range(2, 9))
    await world.send(A, gid, "m1", "group")
    conv = f"g:{gid}"
    for user in range(2, 8):
        await world.chat.mark_read(user, conv, 1)

    pages = await world.every_page(8, conv, 1, limit=2)

    assert [len(p.readers) for p in pages] == [2, 2, 2]
    assert [r.user_id for p in pages for r in p.readers] == list(range(2, 8))
    assert {(p.read_count, p.unread_count) for p in pages} == {(6, 1)}
    assert (await world.page(8, conv, 1)).next_cursor is not None  # default limit: 2


async def test_former_members_are_counted_nowhere(world: Receipts) -> None:
    conv = await _group_with_reads(world)
    gid = int(conv[2:])

    await world.groups.remove_member(gid, B, B)
    page = await world.page(C, conv, 1)

    assert page.readers == [Reader(user_id=C, read_seq=2)]
    assert (page.read_count, page.unread_count) == (1, 1)
    await fails(world.page(B, conv, 1), Forbidden, "not_a_member")


async def test_an_entry_outliving_its_member_is_not_counted(world: Receipts) -> None:
    conv = await _group_with_reads(world)
    await world.groups.remove_member(int(conv[2:]), B, B)
    # A read that passed the membership check just before the removal recreates the entry.
    await world.store.mark_read(B, conv, 4)

    page = await world.page(C, conv, 1)

    assert page.readers == [Reader(user_id=C, read_seq=2)]
    assert (page.read_count, page.unread_count) == (1, 1)


async def test_membership_changes_no_watcher_saw_are_caught_up(world: Receipts) -> None:
    conv = await _group_with_reads(world)
    gid = int(conv[2:])
    # Another process (an operator command, or a crash before the watchers ran) changes the
    # members: this process's chat watcher never hears of it.
    other = world.groups_process()
    await other.remove_member(gid, B, B)
    await other.add_members(gid, A, [5])

    page = await world.page(C, conv, 1)

    # A joiner starts with everything before their join read, as the conversation list says.
    assert page.readers == [Reader(user_id=C, read_seq=2), Reader(user_id=5, read_seq=5)]
    assert (page.read_count, page.unread_count) == (2, 1)


async def test_only_members_may_ask_and_only_about_stored_messages(world: Receipts) -> None:
    conv = await _group_with_reads(world)
    outsider = 99

    await fails(world.page(outsider, conv, 1), Forbidden, "not_a_member")
    await fails(world.page(A, "g:4040", 1), NotFound, "group_not_found")
    await fails(world.page(A, conv, 6), NotFound, "message_not_found")
    await fails(world.page(A, conv, 0), InvalidInput, "invalid_field")
    await fails(world.page(A, "g:x", 1), InvalidInput, "invalid_conversation_id")
    for limit in (0, 4):
        await fails(world.page(A, conv, 1, limit=limit), InvalidInput, "invalid_field")
    for cursor in ("", "1", "1.0", "x.2", "01.2", "1.2.3", "-1.2"):
        await fails(world.page(A, conv, 1, cursor=cursor), InvalidInput, "invalid_field")


async def test_a_single_chat_lists_the_peer_once_they_read(world: Receipts) -> None:
    await world.send(A, B, "s1")

    before = await world.page(A, AB, 1)
    await world.chat.mark_read(B, AB, 1)
    after = await world.page(B, AB, 1)
    await world.send(B, A, "s2")  # sending reads up to it: B has read 2 now, A has not
    reply = await world.page(A, AB, 2)

    assert (before.readers, before.read_count, before.unread_count) == ([], 0, 1)
    assert after.readers == [Reader(user_id=B, read_seq=1)]
    assert (after.read_count, after.unread_count) == (1, 0)
    assert (reply.readers, reply.read_count, reply.unread_count) == ([], 0, 1)
    assert (await world.page(B, AB, 1)).readers == [Reader(user_id=B, read_seq=2)]
    await fails(world.page(C, AB, 1), Forbidden, "not_a_participant")


@pytest.mark.parametrize(
    "position",
    [ReaderPosition(read_seq=0, user_id=1), ReaderPosition(read_seq=2**53 - 1, user_id=7)],
)
def test_reader_cursors_round_trip(position: ReaderPosition) -> None:
    assert domain.decode_reader_cursor(domain.encode_reader_cursor(position)) == position
