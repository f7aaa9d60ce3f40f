"""Rules and service of message changes: recall and edit windows, who may, delete for me."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gomicroim.errors import Conflict, Forbidden, NotFound, TooLarge, Unavailable
from gomicroim.gateway.typing import TypingThrottle
from gomicroim.modules.chat import changes
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.edits import MessageChangeService
from gomicroim.modules.chat.service import ChatService
from tests.fakes.changes import MemoryMessageChangeStore
from tests.fakes.timeline import MemoryTimelineStore
from tests.unit.test_chat_service import AB, MAX_BODY, A, B, C, World

WINDOW_MS = 120_000


def sent(sender: int = A, at: int = 0, session_type: str = "single") -> MessageRead:
    return MessageRead(
        conversation_id=AB if session_type == "single" else "g:1",
        seq=1,
        sender_id=sender,
        to=B,
        session_type="single" if session_type == "single" else "group",
        client_msg_id="c1",
        msg_type="text",
        body="hello",
        created_at=at,
    )


def test_the_sender_may_recall_within_the_window_and_not_after() -> None:
    changes.may_recall(sent(), A, None, WINDOW_MS, WINDOW_MS)
    with pytest.raises(Forbidden) as late:
        changes.may_recall(sent(), A, None, WINDOW_MS + 1, WINDOW_MS)
    assert late.value.code == "recall_window_passed"


@pytest.mark.parametrize("role", [None, "member"])
def test_others_may_not_recall(role: changes.GroupRole | None) -> None:
    with pytest.raises(Forbidden) as refused:
        changes.may_recall(sent(session_type="group"), B, role, 0, WINDOW_MS)
    assert refused.value.code == "not_allowed"


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_group_admins_may_recall_anyones_message_at_any_time(role: changes.GroupRole) -> None:
    changes.may_recall(sent(session_type="group"), B, role, 10 * WINDOW_MS, WINDOW_MS)


def test_roles_do_not_apply_in_single_chats() -> None:
    with pytest.raises(Forbidden):
        changes.may_recall(sent(), B, "admin", 0, WINDOW_MS)


def test_edit_rules() -> None:
    changes.may_edit(sent(), A, WINDOW_MS, WINDOW_MS)
    with pytest.raises(Forbidden, match=r"chat\.edit_window_s"):
        changes.may_edit(sent(), A, WINDOW_MS + 1, WINDOW_MS)
    with pytest.raises(Forbidden, match="only the sender"):
        changes.may_edit(sent(), B, 0, WINDOW_MS)
    with pytest.raises(Conflict):
        changes.may_edit(changes.recalled(sent(), A, 1), A, 2, WINDOW_MS)


def test_a_tombstone_keeps_the_seq_and_drops_the_body() -> None:
    tombstone = changes.recalled(sent(), A, 50)
    assert (tombstone.seq, tombstone.body, tombstone.recalled_by, tombstone.revision) == (
        1,
        "",
        A,
        1,
    )
    edited = changes.edited(sent(), "hi", 60)
    assert (edited.body, edited.edited_at, edited.revision) == ("hi", 60, 1)


def test_typing_is_relayed_once_per_interval_per_user_and_conversation() -> None:
    throttle = TypingThrottle(interval_ms=3000)
    assert throttle.allow(A, AB, 0)
    assert not throttle.allow(A, AB, 2999)
    assert throttle.allow(B, AB, 2999)
    assert throttle.allow(A, "g:1", 2999)
    assert throttle.allow(A, AB, 3000)


def test_the_typing_throttle_stays_bounded() -> None:
    throttle = TypingThrottle(interval_ms=3000, max_entries=10)
    for user in range(100):
        assert throttle.allow(user, AB, 0)
    assert len(throttle._last) <= 10
    assert not throttle.allow(99, AB, 1)


@dataclass
class Changes:
    world: World = field(default_factory=World)
    published: list[MessageCommitted] = field(default_factory=list)
    fail: bool = False

    def __post_init__(self) -> None:
        self.store = MemoryMessageChangeStore(self.world.store)
        self.timeline = MemoryTimelineStore()
        self.world.chat = ChatService(
            store=self.world.store,
            users=self.world.directory,
            groups=self.world.groups,
            max_body_bytes=MAX_BODY,
            clock=self.world._tick,
            hidden=self.store,
        )
        self.service = MessageChangeService(
            store=self.store,
            groups=self.world.groups,
            publisher=self,
            timeline=self.timeline,
            max_body_bytes=MAX_BODY,
            recall_window_s=120,
            edit_window_s=60,
            relay_wait_s=0.2,
            clock=self.world.clock,
        )

    async def publish(self, items: list[MessageCommitted]) -> None:
        if self.fail:
            raise ConnectionError("bus down")
        self.published.extend(items)


@pytest.fixture
def c() -> Changes:
    return Changes()


async def test_recall_publishes_a_tombstone_and_is_idempotent(c: Changes) -> None:
    message = (await c.world.send(A, B, "m1", body="oops")).message

    first = await c.service.recall(A, "dev-1", AB, message.seq)
    again = await c.service.recall(A, "dev-2", AB, message.seq)

    assert first == again
    assert first.recalled
    assert (first.body, first.recalled_by) == ("", A)
    assert [(e.change, e.actor_id, e.message.revision) for e in c.published] == [
        ("recall", A, 1),
        ("recall", A, 1),
    ]
    page = await c.world.chat.history(B, AB, before_seq=None, after_seq=None)
    assert [(m.seq, m.recalled, m.body) for m in page.messages] == [(1, True, "")]
    listing = await c.world.chat.conversations(B)
    preview = listing.conversations[0].last_message
    assert preview is not None
    assert (preview.seq, preview.recalled, preview.body, preview.revision) == (1, True, "", 1)


async def test_recall_after_the_window_and_by_the_peer_is_refused(c: Changes) -> None:
    message = (await c.world.send(A, B, "m1")).message
    with pytest.raises(Forbidden, match="only the sender"):
        await c.service.recall(B, "dev-2", AB, message.seq)
    c.world.clock.advance(120_001)
    with pytest.raises(Forbidden, match=r"chat\.recall_window_s"):
        await c.service.recall(A, "dev-1", AB, message.seq)
    assert c.published == []


async def test_outsiders_and_missing_messages(c: Changes) -> None:
    await c.world.send(A, B, "m1")
    with pytest.raises(Forbidden):
        await c.service.recall(C, "dev-3", AB, 1)
    with pytest.raises(NotFound) as missing:
        await c.service.recall(A, "dev-1", AB, 7)
    assert missing.value.code == "message_not_found"


async def test_a_change_waits_for_its_message_to_be_relayed(c: Changes) -> None:
    message = (await c.world.send(A, B, "m1")).message
    c.store.unrelayed.add((AB, message.seq))
    with pytest.raises(Unavailable) as waiting:
        await c.service.recall(A, "dev-1", AB, message.seq)
    assert waiting.value.code == "not_relayed_yet"
    stored = await c.store.message(AB, message.seq)
    assert stored is not None
    assert not stored.recalled


async def test_a_bus_failure_answers_503_and_a_retry_announces(c: Changes) -> None:
    message = (await c.world.send(A, B, "m1")).message
    c.fail = True
    with pytest.raises(Unavailable):
        await c.service.recall(A, "dev-1", AB, message.seq)
    c.fail = False
    await c.service.recall(A, "dev-1", AB, message.seq)
    assert [e.change for e in c.published] == ["recall"]


async def test_edit_keeps_the_seq_and_checks_the_body(c: Changes) -> None:
    message = (await c.world.send(A, B, "m1", body="helo")).message
    c.world.clock.advance(10)

    edited = await c.service.edit(A, "dev-1", AB, message.seq, "hello")

    assert (edited.seq, edited.body, edited.edited_at) == (message.seq, "hello", c.world.clock())
    assert c.published[-1].change == "edit"
    with pytest.raises(TooLarge):
        await c.service.edit(A, "dev-1", AB, message.seq, "x" * (MAX_BODY + 1))
    await c.service.recall(A, "dev-1", AB, message.seq)
    with pytest.raises(Conflict):
        await c.service.edit(A, "dev-1", AB, message.seq, "again")


async def test_edit_window(c: Changes) -> None:
    message = (await c.world.send(A, B, "m1")).message
    c.world.clock.advance(60_001)
    with pytest.raises(Forbidden) as late:
        await c.service.edit(A, "dev-1", AB, message.seq, "late")
    assert late.value.code == "edit_window_passed"


async def test_delete_for_me_hides_only_for_the_caller(c: Changes) -> None:
    one = (await c.world.send(A, B, "m1")).message
    await c.world.send(B, A, "m2")
    await c.timeline.append(one, {A, B})

    await c.service.hide(B, "dev-2", AB, one.seq)
    await c.service.hide(B, "dev-2", AB, one.seq)

    mine = await c.world.chat.history(B, AB, before_seq=None, after_seq=None)
    theirs = await c.world.chat.history(A, AB, before_seq=None, after_seq=None)
    assert [m.seq for m in mine.messages] == [2]
    assert [m.seq for m in theirs.messages] == [1, 2]
    assert (await c.timeline.sync(B, 0, 10)).entries == []
    assert len((await c.timeline.sync(A, 0, 10)).entries) == 1
    with pytest.raises(NotFound):
        await c.service.hide(B, "dev-2", AB, 9)


async def test_participants_of_a_group_are_its_members(c: Changes) -> None:
    gid = await c.world.group(A, B)
    assert await c.service.participants(B, f"g:{gid}") == {A, B}
    assert await c.service.participants(A, AB) == {A, B}
    with pytest.raises(Forbidden):
        await c.service.participants(C, f"g:{gid}")


async def test_a_group_admin_recalls_any_message_after_the_window_a_member_cannot(
    c: Changes,
) -> None:
    gid = await c.world.group(A, B, C)
    conv = f"g:{gid}"
    message = (await c.world.send(C, gid, "m1", body="spam", session_type="group")).message
    c.world.clock.advance(10 * 120_000)
    with pytest.raises(Forbidden):
        await c.service.recall(B, "dev-2", conv, message.seq)
    await c.world.groups.set_role(gid, A, B, "admin")

    tombstone = await c.service.recall(B, "dev-2", conv, message.seq)

    assert (tombstone.recalled, tombstone.recalled_by, tombstone.body) == (True, B, "")
