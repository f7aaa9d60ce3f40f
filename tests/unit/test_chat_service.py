"""ChatService over fakes: sending, idempotency, membership, conversation lists, history, reads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import pytest

from gomicroim.errors import AppError, Forbidden, InvalidInput, NotFound, TooLarge
from gomicroim.modules.chat.contract import (
    MessageCommitted,
    MessageSend,
    MsgType,
    ReadPositionMoved,
    SendResult,
    SessionType,
)
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.groups.contract import GroupCreate
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import (
    FakeClock,
    MemoryChatStore,
    MemoryGroupStore,
    RecordingReadEvents,
    StaticDirectory,
)

A, B, C, D, NOBODY = 1, 2, 3, 4, 99
AB = "s:1:2"
MAX_BODY = 64


@dataclass
class World:
    clock: FakeClock = field(default_factory=lambda: FakeClock(1_000_000))
    directory: StaticDirectory = field(default_factory=lambda: StaticDirectory({A, B, C, D}))
    read_events: RecordingReadEvents = field(default_factory=RecordingReadEvents)
    commits: int = 0
    committed: list[MessageCommitted] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The store hands commits to the relay; here the world records them.
        self.store = MemoryChatStore(on_commit=self._committed)
        self.groups = GroupsService(
            store=MemoryGroupStore(), users=self.directory, max_members=100, clock=self.clock
        )
        self.chat = ChatService(
            store=self.store,
            users=self.directory,
            groups=self.groups,
            max_body_bytes=MAX_BODY,
            read_events=self.read_events,
            clock=self._tick,
            conversations_page_limit=3,
            conversations_max_limit=5,
            preview_chars=10,
        )

    def _committed(self, events: Sequence[MessageCommitted]) -> None:
        self.commits += len(events)
        self.committed.extend(events)

    def _tick(self) -> int:
        # Every send gets its own time, so "most recent first" is well defined.
        return self.clock.advance(1)

    async def send(
        self,
        sender: int,
        to: int,
        client_msg_id: str,
        body: str = "hi",
        session_type: SessionType = "single",
        msg_type: MsgType = "text",
    ) -> SendResult:
        return await self.chat.send(
            sender,
            f"dev-{sender}",
            MessageSend(
                to=to,
                session_type=session_type,
                client_msg_id=client_msg_id,
                msg_type=msg_type,
                body=body,
            ),
        )

    async def group(self, owner: int, *members: int) -> int:
        return (await self.groups.create(owner, GroupCreate(name="g", member_ids=list(members)))).id

    async def unread(self, user: int) -> dict[str, int]:
        listing = await self.chat.conversations(user)
        return {c.conversation_id: c.unread for c in listing.conversations}


@pytest.fixture
def world() -> World:
    return World()


async def fails(call: object, kind: type[AppError], code: str) -> AppError:
    with pytest.raises(kind) as err:
        await call  # type: ignore[misc]
    assert err.value.code == code
    return err.value


# --- sending ---------------------------------------------------------------------------------


async def test_a_single_chat_message_is_stored_with_the_first_seq(world: World) -> None:
    result = await world.send(A, B, "c1", body="hello")

    assert result.created
    m = result.message
    assert (m.conversation_id, m.seq, m.sender_id, m.to, m.session_type) == (AB, 1, A, B, "single")
    assert (m.client_msg_id, m.msg_type, m.body) == ("c1", "text", "hello")
    assert world.store.outbox == [MessageCommitted(message=m, sender_device_id="dev-1")]
    assert world.commits == 1
    # The relay is handed the committed event itself, so it need not read the outbox back.
    assert world.committed == world.store.outbox


async def test_both_directions_share_one_conversation(world: World) -> None:
    await world.send(A, B, "c1")
    reply = await world.send(B, A, "c1")

    assert (reply.message.conversation_id, reply.message.seq) == (AB, 2)


async def test_resending_a_client_msg_id_returns_the_first_message(world: World) -> None:
    first = await world.send(A, B, "c1", body="first")

    again = await world.send(A, B, "c1", body="edited retry")

    assert not again.created
    assert again.message == first.message
    assert len(world.store.outbox) == 1
    assert world.commits == 1
    assert (await world.chat.conversations(A)).conversations[0].last_seq == 1


async def test_concurrent_retries_of_one_send_store_one_message(world: World) -> None:
    # A directory that yields lets both retries pass the "already sent?" check before either
    # appends, as two requests on two replicas would.
    world.directory = StaticDirectory({A, B}, yield_control=True)
    world.__post_init__()

    results = await asyncio.gather(*(world.send(A, B, "c1") for _ in range(5)))

    assert sum(r.created for r in results) == 1
    assert len({r.message.seq for r in results}) == 1
    assert len(world.store.outbox) == 1
    assert world.commits == 1


async def test_a_single_chat_with_oneself_is_refused(world: World) -> None:
    await fails(world.send(A, A, "c1"), InvalidInput, "cannot_message_self")


async def test_clients_may_not_send_system_messages(world: World) -> None:
    await fails(world.send(A, B, "c1", msg_type="system"), InvalidInput, "msg_type_not_allowed")


async def test_the_body_limit_counts_utf8_bytes(world: World) -> None:
    await world.send(A, B, "ok", body="界" * (MAX_BODY // 3) + "x" * (MAX_BODY % 3))

    err = await fails(
        world.send(A, B, "big", body="界" * (MAX_BODY // 3 + 1)), TooLarge, "body_too_large"
    )
    assert err.status == 413
    assert await world.store.find_sent(A, "big") is None


async def test_a_message_to_an_unknown_user_is_not_found(world: World) -> None:
    err = await fails(world.send(A, NOBODY, "c1"), NotFound, "user_not_found")

    assert err.field == "to"
    assert world.store.outbox == []


async def test_only_members_post_to_a_group(world: World) -> None:
    gid = await world.group(A, B)

    await fails(world.send(C, gid, "c1", session_type="group"), Forbidden, "not_a_member")
    await fails(world.send(A, 404, "c1", session_type="group"), NotFound, "group_not_found")
    # Only the group's creation is recorded (a system message); the refused sends stored nothing.
    assert [e.message.msg_type for e in world.store.outbox] == ["system"]


# --- conversation lists ----------------------------------------------------------------------


async def test_the_recipient_sees_the_conversation_with_the_first_message(world: World) -> None:
    sent = (await world.send(A, B, "c1")).message

    listing = await world.chat.conversations(B)

    assert listing.total_unread == 1
    [conversation] = listing.conversations
    assert (conversation.conversation_id, conversation.session_type) == (AB, "single")
    assert (conversation.peer_id, conversation.group_id) == (A, None)
    assert (conversation.last_seq, conversation.read_seq, conversation.unread) == (1, 0, 1)
    assert conversation.last_message is not None
    assert msgspec.structs.asdict(conversation.last_message) == {
        **msgspec.structs.asdict(sent),
        "truncated": False,
    }
    assert listing.next_before is None
    assert await world.unread(A) == {AB: 0}
    assert await world.unread(C) == {}


async def test_every_group_member_sees_the_first_group_message(world: World) -> None:
    gid = await world.group(A, B, C)

    await world.send(A, gid, "c1", session_type="group")

    g = f"g:{gid}"
    # The group_created system message (sent by A) and c1.
    assert await world.unread(A) == {g: 0}
    assert await world.unread(B) == {g: 2}
    assert await world.unread(C) == {g: 2}
    listing = await world.chat.conversations(B)
    assert (listing.conversations[0].group_id, listing.conversations[0].peer_id) == (gid, None)


async def test_a_newcomer_gets_unread_only_from_joining_on(world: World) -> None:
    gid = await world.group(A, B)
    await world.send(A, gid, "c1", session_type="group")
    await world.send(A, gid, "c2", session_type="group")

    await world.groups.add_members(gid, A, [D])
    await world.send(B, gid, "c3", session_type="group")

    g = f"g:{gid}"
    # 1 group_created, 2 c1, 3 c2, 4 member_added (D's own), 5 c3.
    assert await world.unread(D) == {g: 2}
    assert await world.unread(B) == {g: 0}
    assert await world.unread(A) == {g: 1}
    page = await world.chat.history(D, g, before_seq=None, after_seq=None, limit=10)
    assert [m.seq for m in page.messages] == [1, 2, 3, 4, 5]
    assert page.messages[3].msg_type == "system"


async def test_a_removed_member_loses_the_conversation(world: World) -> None:
    gid = await world.group(A, B, C)
    await world.send(A, gid, "c1", session_type="group")

    await world.groups.remove_member(gid, A, C)
    await world.send(A, gid, "c2", session_type="group")

    g = f"g:{gid}"
    assert await world.unread(C) == {}
    # group_created, c1, member_removed, c2.
    assert await world.unread(B) == {g: 4}
    await fails(
        world.chat.history(C, g, before_seq=None, after_seq=None, limit=10),
        Forbidden,
        "not_a_member",
    )
    await fails(world.send(C, gid, "c3", session_type="group"), Forbidden, "not_a_member")


async def test_members_see_a_new_group_at_once_with_only_its_system_message_unread(
    world: World,
) -> None:
    gid = await world.group(A, B)
    g = f"g:{gid}"
    # The group_created message is A's own: unread for B only.
    assert await world.unread(A) == {g: 0}
    assert await world.unread(B) == {g: 1}

    await world.send(A, gid, "c1", session_type="group")
    await world.groups.add_members(gid, A, [C])

    # C joined after c1: listed at once; only their own member_added message is unread.
    assert await world.unread(C) == {g: 1}
    [entry] = (await world.chat.conversations(C)).conversations
    assert (entry.last_seq, entry.read_seq) == (3, 2)
    assert entry.last_message is not None
    assert entry.last_message.msg_type == "system"


async def test_a_leaver_keeps_no_unread_count_without_a_further_message(world: World) -> None:
    gid = await world.group(A, B)
    await world.send(A, gid, "c1", session_type="group")
    assert (await world.chat.conversations(B)).total_unread == 2

    await world.groups.remove_member(gid, B, B)

    listing = await world.chat.conversations(B)
    assert (listing.conversations, listing.total_unread) == ([], 0)


async def test_the_list_pages_with_a_cursor_and_counts_all_unread(world: World) -> None:
    for peer in (B, C, D):
        await world.send(peer, A, f"from-{peer}")
    gid = await world.group(B, A)
    await world.send(B, gid, "g1", session_type="group")

    first = await world.chat.conversations(A, limit=2)
    assert [c.conversation_id for c in first.conversations] == [f"g:{gid}", "s:1:4"]
    # Three singles, the group_created message and g1.
    assert first.total_unread == 5
    assert first.next_before is not None
    rest = await world.chat.conversations(A, before=first.next_before)
    assert [c.conversation_id for c in rest.conversations] == ["s:1:3", "s:1:2"]
    assert rest.total_unread == 5
    assert rest.next_before is None
    # Without a limit, chat.conversations_page_limit (3 here).
    assert len((await world.chat.conversations(A)).conversations) == 3


@pytest.mark.parametrize("limit", [0, 6, -1])
async def test_a_list_limit_out_of_range_is_refused(world: World, limit: int) -> None:
    error = await fails(world.chat.conversations(A, limit=limit), InvalidInput, "invalid_field")
    assert error.field == "limit"


@pytest.mark.parametrize(
    "cursor", ["garbage", "e30", "W10", "x" * 300, "ünï", "eyJ1cGRhdGVkX2F0Ijow"]
)
async def test_a_cursor_the_server_did_not_issue_is_refused(world: World, cursor: str) -> None:
    error = await fails(world.chat.conversations(A, before=cursor), InvalidInput, "invalid_field")
    assert error.field == "before"


async def test_list_previews_are_cut_and_flagged_history_keeps_the_body(world: World) -> None:
    await world.send(B, A, "long", body="0123456789abc")
    await world.send(C, A, "short", body="0123456789")

    by_id = {c.conversation_id: c for c in (await world.chat.conversations(A)).conversations}
    long, short = by_id["s:1:2"].last_message, by_id["s:1:3"].last_message
    assert long is not None
    assert short is not None
    assert (long.body, long.truncated) == ("0123456789", True)
    assert (short.body, short.truncated) == ("0123456789", False)
    page = await world.chat.history(A, "s:1:2", before_seq=None, after_seq=None)
    assert page.messages[0].body == "0123456789abc"


async def test_conversations_are_listed_most_recent_first_with_a_total(world: World) -> None:
    await world.send(B, A, "x1")
    await world.send(C, A, "y1")
    await world.send(C, A, "y2")
    await world.send(B, A, "x2")

    listing = await world.chat.conversations(A)

    assert [c.conversation_id for c in listing.conversations] == ["s:1:2", "s:1:3"]
    assert [c.unread for c in listing.conversations] == [2, 2]
    assert listing.total_unread == 4


# --- history ---------------------------------------------------------------------------------


@pytest.fixture
async def chatty(world: World) -> World:
    """Seven messages from A to B."""
    for i in range(7):
        await world.send(A, B, f"m{i}")
    return world


async def seqs(world: World, user: int = A, **cursor: int | None) -> tuple[list[int], bool]:
    args = {"before_seq": None, "after_seq": None, **cursor}
    page = await world.chat.history(user, AB, limit=3, **args)  # type: ignore[arg-type]
    assert page.conversation_id == AB
    return [m.seq for m in page.messages], page.has_more


async def test_history_pages_back_from_the_newest(chatty: World) -> None:
    assert await seqs(chatty) == ([5, 6, 7], True)
    assert await seqs(chatty, before_seq=5) == ([2, 3, 4], True)
    assert await seqs(chatty, before_seq=2) == ([1], False)


async def test_history_pages_forward_after_a_seq(chatty: World) -> None:
    assert await seqs(chatty, B, after_seq=0) == ([1, 2, 3], True)
    assert await seqs(chatty, B, after_seq=3) == ([4, 5, 6], True)
    assert await seqs(chatty, B, after_seq=6) == ([7], False)
    assert await seqs(chatty, B, after_seq=7) == ([], False)


async def test_history_takes_one_cursor_only(chatty: World) -> None:
    await fails(seqs(chatty, before_seq=5, after_seq=1), InvalidInput, "conflicting_cursors")


async def test_history_of_a_single_chat_is_for_its_two_users(chatty: World) -> None:
    await fails(seqs(chatty, C), Forbidden, "not_a_participant")


@pytest.mark.parametrize("bad", ["s:2:1", "g:0", "nonsense", "s:1:1"])
async def test_history_refuses_malformed_conversation_ids(world: World, bad: str) -> None:
    await fails(
        world.chat.history(A, bad, before_seq=None, after_seq=None, limit=10),
        InvalidInput,
        "invalid_conversation_id",
    )


async def test_history_of_groups_is_for_members(world: World) -> None:
    gid = await world.group(A, B)
    await world.send(A, gid, "c1", session_type="group")

    page = await world.chat.history(B, f"g:{gid}", before_seq=None, after_seq=None, limit=10)

    assert [m.msg_type for m in page.messages] == ["system", "text"]
    assert page.messages[1].body == "hi"
    await fails(
        world.chat.history(C, f"g:{gid}", before_seq=None, after_seq=None, limit=10),
        Forbidden,
        "not_a_member",
    )
    await fails(
        world.chat.history(A, "g:404", before_seq=None, after_seq=None, limit=10),
        NotFound,
        "group_not_found",
    )


# --- read positions --------------------------------------------------------------------------


async def test_mark_read_moves_forward_never_back_and_stops_at_the_end(chatty: World) -> None:
    first = await chatty.chat.mark_read(B, AB, 3, "dev-2")
    back = await chatty.chat.mark_read(B, AB, 1, "dev-2")
    past = await chatty.chat.mark_read(B, AB, 100, "dev-2")

    assert (first.read_seq, first.last_seq, first.unread) == (3, 7, 4)
    assert (back.read_seq, back.unread) == (3, 4)
    assert (past.read_seq, past.unread) == (7, 0)
    assert await chatty.unread(B) == {AB: 0}


async def test_mark_read_tells_the_users_devices_and_the_peer(chatty: World) -> None:
    await chatty.chat.mark_read(B, AB, 5, "tablet")

    assert chatty.read_events.events == [
        ReadPositionMoved(conversation_id=AB, user_id=B, device_id="tablet", seq=5, peer_id=A)
    ]


async def test_a_read_that_moves_nothing_tells_nobody(chatty: World) -> None:
    await chatty.chat.mark_read(B, AB, 5, "tablet")
    chatty.read_events.events.clear()

    again = await chatty.chat.mark_read(B, AB, 5, "tablet")
    back = await chatty.chat.mark_read(B, AB, 2, "phone")

    assert (again.read_seq, back.read_seq) == (5, 5)
    assert chatty.read_events.events == []


async def test_a_group_read_has_no_peer(world: World) -> None:
    gid = await world.group(A, B)
    await world.send(A, gid, "c1", session_type="group")

    await world.chat.mark_read(B, f"g:{gid}", 1, "dev-2")

    assert [(e.user_id, e.seq, e.peer_id) for e in world.read_events.events] == [(B, 1, None)]


async def test_a_read_event_the_bus_refuses_does_not_fail_the_read(chatty: World) -> None:
    chatty.read_events.accept = False

    result = await chatty.chat.mark_read(B, AB, 7, "dev-2")

    assert result.unread == 0


async def test_outsiders_cannot_mark_reads(chatty: World) -> None:
    await fails(chatty.chat.mark_read(C, AB, 1), Forbidden, "not_a_participant")
    assert await chatty.unread(C) == {}


# --- the peer's read position ------------------------------------------------------------------


async def test_a_single_chat_entry_shows_how_far_the_peer_has_read(chatty: World) -> None:
    before = {
        c.conversation_id: c.peer_read_seq
        for c in (await chatty.chat.conversations(A)).conversations
    }
    await chatty.chat.mark_read(B, AB, 4)

    [mine] = (await chatty.chat.conversations(A)).conversations
    [theirs] = (await chatty.chat.conversations(B)).conversations

    assert before == {AB: 0}
    assert (mine.peer_read_seq, mine.read_seq) == (4, 7)
    # B's view of A: sending moved A's read position to A's own last message.
    assert (theirs.peer_read_seq, theirs.read_seq) == (7, 4)


async def test_a_group_entry_has_no_peer_read_position(world: World) -> None:
    gid = await world.group(A, B)
    await world.send(A, gid, "c1", session_type="group")
    await world.chat.mark_read(B, f"g:{gid}", 1)

    [entry] = (await world.chat.conversations(A)).conversations

    assert entry.peer_read_seq is None
