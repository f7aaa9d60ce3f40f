"""System messages: group changes recorded in the group's conversation, over fakes."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import msgspec
import pytest

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead, MessageSend
from gomicroim.modules.chat.ports import MessageDraft
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.chat.system import (
    SystemMessages,
    system_body,
    system_client_msg_id,
    system_draft,
)
from gomicroim.modules.groups.contract import GroupChanged, GroupCreate, GroupEdit
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import FakeClock, MemoryChatStore, MemoryGroupStore, StaticDirectory

OWNER, ADMIN, MEMBER, NEWCOMER, OTHER = 1, 2, 3, 4, 5
BIG = 2**53 - 1


def change(event: str, **fields: object) -> GroupChanged:
    values: dict[str, object] = {
        "group_id": 7,
        "change_id": "00ff00ff00ff00ff",
        "actor_id": OWNER,
        "at": 5,
    }
    values.update(fields)
    return msgspec.convert({"event": event, **values}, GroupChanged)


@pytest.mark.parametrize(
    ("event", "fields", "body"),
    [
        (
            "group_created",
            {"targets": (2, 3), "name": "Team"},
            {"event": "group_created", "actor": 1, "name": "Team", "targets": [2, 3]},
        ),
        ("member_added", {"targets": (4,)}, {"event": "member_added", "actor": 1, "targets": [4]}),
        (
            "member_removed",
            {"targets": (3,)},
            {"event": "member_removed", "actor": 1, "targets": [3]},
        ),
        ("member_left", {"actor_id": 3}, {"event": "member_left", "actor": 3}),
        (
            "role_changed",
            {"targets": (2,), "role": "admin"},
            {"event": "role_changed", "actor": 1, "target": 2, "role": "admin"},
        ),
        (
            "ownership_transferred",
            {"targets": (2,), "previous_owner_id": 1},
            {"event": "ownership_transferred", "actor": 1, "from": 1, "to": 2},
        ),
        (
            "member_muted",
            {"targets": (3,), "until": 99},
            {"event": "member_muted", "actor": 1, "target": 3, "until": 99},
        ),
        (
            "member_unmuted",
            {"targets": (3,)},
            {"event": "member_unmuted", "actor": 1, "target": 3},
        ),
        ("group_renamed", {"name": "New"}, {"event": "group_renamed", "actor": 1, "name": "New"}),
        (
            "notice_changed",
            {"notice": "line 1\nline 2"},
            {"event": "notice_changed", "actor": 1, "notice": "line 1\nline 2"},
        ),
        (
            "avatar_changed",
            {"avatar_url": "https://x.test/a.png"},
            {"event": "avatar_changed", "actor": 1, "avatar_url": "https://x.test/a.png"},
        ),
        ("group_muted", {}, {"event": "group_muted", "actor": 1}),
        ("group_unmuted", {}, {"event": "group_unmuted", "actor": 1}),
        ("group_dissolved", {"actor_id": None}, {"event": "group_dissolved", "actor": None}),
    ],
)
def test_each_event_has_its_documented_body(
    event: str, fields: dict[str, object], body: dict[str, object]
) -> None:
    text = system_body(change(event, **fields))

    assert json.loads(text) == body
    # Keys in a fixed order: the same change always gives byte-identical bodies.
    assert list(json.loads(text)) == list(body)


def test_the_client_msg_id_is_the_event_group_and_change_and_fits_64_characters() -> None:
    longest = change("ownership_transferred", group_id=BIG, change_id="f" * 16)

    assert system_client_msg_id(change("member_added")) == "sys:member_added:7:00ff00ff00ff00ff"
    assert system_client_msg_id(longest) == system_client_msg_id(longest)
    assert len(system_client_msg_id(longest)) <= 64
    assert system_client_msg_id(change("member_added", change_id="1" * 16)) != (
        system_client_msg_id(change("member_added"))
    )


def test_the_draft_is_a_group_system_message_sent_by_the_actor_or_user_0() -> None:
    draft = system_draft(change("member_added", targets=(4,)))
    by_operator = system_draft(change("group_dissolved", actor_id=None))

    assert (draft.conversation_id, draft.session_type, draft.to) == ("g:7", "group", 7)
    assert (draft.sender_id, draft.msg_type, draft.created_at) == (OWNER, "system", 5)
    assert draft.sender_device_id == ""
    assert by_operator.sender_id == 0


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(1_000_000)
        self.committed: list[MessageCommitted] = []
        self.store = MemoryChatStore(on_commit=self._committed)
        self.users = StaticDirectory(range(1, 10))
        self.groups = GroupsService(
            store=MemoryGroupStore(), users=self.users, max_members=50, clock=self.clock
        )
        self.chat = ChatService(
            store=self.store,
            users=self.users,
            groups=self.groups,
            max_body_bytes=1000,
            clock=self.clock,
        )

    def _committed(self, events: Sequence[MessageCommitted]) -> None:
        self.committed.extend(events)

    async def create(self) -> int:
        group = await self.groups.create(
            OWNER, GroupCreate(name="Team", member_ids=[ADMIN, MEMBER])
        )
        await self.groups.set_role(group.id, OWNER, ADMIN, "admin")
        return group.id

    async def history(self, user: int, gid: int) -> list[MessageRead]:
        page = await self.chat.history(user, f"g:{gid}", before_seq=None, after_seq=0, limit=100)
        return page.messages

    async def events(self, user: int, gid: int) -> list[tuple[int, dict[str, object]]]:
        return [
            (m.sender_id, json.loads(m.body))
            for m in await self.history(user, gid)
            if m.msg_type == "system"
        ]


@pytest.fixture
def world() -> World:
    return World()


async def test_every_change_is_recorded_in_order_by_its_actor(world: World) -> None:
    gid = await world.create()
    await world.groups.add_members(gid, ADMIN, [NEWCOMER, OTHER])
    await world.groups.remove_member(gid, ADMIN, OTHER)
    await world.groups.remove_member(gid, NEWCOMER, NEWCOMER)
    until = world.clock.now + 60_000
    await world.groups.mute(gid, OWNER, MEMBER, until)
    await world.groups.mute(gid, OWNER, MEMBER, None)
    await world.groups.edit(
        gid,
        ADMIN,
        GroupEdit(name="Crew", notice="hello", avatar_url="https://x.test/a.png", muted=True),
    )
    await world.groups.edit(gid, ADMIN, GroupEdit(muted=False))
    await world.groups.transfer(gid, OWNER, ADMIN)
    await world.groups.dissolve(gid, ADMIN)

    assert await world.events(MEMBER, gid) == [
        (OWNER, {"event": "group_created", "actor": 1, "name": "Team", "targets": [2, 3]}),
        (OWNER, {"event": "role_changed", "actor": 1, "target": 2, "role": "admin"}),
        (ADMIN, {"event": "member_added", "actor": 2, "targets": [4, 5]}),
        (ADMIN, {"event": "member_removed", "actor": 2, "targets": [5]}),
        (NEWCOMER, {"event": "member_left", "actor": 4}),
        (OWNER, {"event": "member_muted", "actor": 1, "target": 3, "until": until}),
        (OWNER, {"event": "member_unmuted", "actor": 1, "target": 3}),
        (ADMIN, {"event": "group_renamed", "actor": 2, "name": "Crew"}),
        (ADMIN, {"event": "notice_changed", "actor": 2, "notice": "hello"}),
        (
            ADMIN,
            {"event": "avatar_changed", "actor": 2, "avatar_url": "https://x.test/a.png"},
        ),
        (ADMIN, {"event": "group_muted", "actor": 2}),
        (ADMIN, {"event": "group_unmuted", "actor": 2}),
        (OWNER, {"event": "ownership_transferred", "actor": 1, "from": 1, "to": 2}),
        (ADMIN, {"event": "group_dissolved", "actor": 2}),
    ]
    seqs = [m.seq for m in await world.history(MEMBER, gid)]
    assert seqs == list(range(1, 15))
    assert [e.message.seq for e in world.committed] == seqs


async def test_changes_that_change_nothing_record_nothing(world: World) -> None:
    gid = await world.create()
    before = len(await world.history(OWNER, gid))

    await world.groups.add_members(gid, OWNER, [MEMBER])
    await world.groups.set_role(gid, OWNER, ADMIN, "admin")
    await world.groups.edit(gid, OWNER, GroupEdit(name="Team", muted=False))
    await world.groups.mute(gid, OWNER, MEMBER, None)
    await world.groups.dissolve(gid, OWNER)
    await world.groups.dissolve(gid, OWNER)

    events = [body["event"] for _, body in await world.events(OWNER, gid)]
    assert len(events) == before + 1
    assert events[-1] == "group_dissolved"


async def test_a_new_member_sees_their_own_member_added_as_unread(world: World) -> None:
    gid = await world.create()

    await world.groups.add_members(gid, OWNER, [NEWCOMER])

    [entry] = (await world.chat.conversations(NEWCOMER)).conversations
    assert entry.unread == 1
    assert entry.last_message is not None
    assert json.loads(entry.last_message.body)["event"] == "member_added"
    # The actor's own action is read for them.
    [own] = (await world.chat.conversations(OWNER)).conversations
    assert own.unread == 0


async def test_a_leaver_gets_no_entry_back_from_their_own_goodbye(world: World) -> None:
    gid = await world.create()

    await world.groups.remove_member(gid, MEMBER, MEMBER)

    assert (await world.chat.conversations(MEMBER)).conversations == []
    last = (await world.history(OWNER, gid))[-1]
    assert (last.sender_id, json.loads(last.body)["event"]) == (MEMBER, "member_left")


async def test_a_muted_admin_and_a_dissolved_group_still_record(world: World) -> None:
    gid = await world.create()
    await world.groups.mute(gid, OWNER, ADMIN, world.clock.now + 60_000)
    await world.groups.edit(gid, OWNER, GroupEdit(muted=True))

    await world.groups.add_members(gid, ADMIN, [NEWCOMER])
    await world.groups.dissolve(gid, OWNER)
    await world.groups.remove_member(gid, MEMBER, MEMBER)

    events = [(s, body["event"]) for s, body in await world.events(OWNER, gid)]
    assert events[-3:] == [
        (ADMIN, "member_added"),
        (OWNER, "group_dissolved"),
        (MEMBER, "member_left"),
    ]


async def test_an_operator_dissolution_is_sent_by_user_0_without_an_entry_for_them(
    world: World,
) -> None:
    gid = await world.create()

    await world.groups.dissolve(gid, None)

    last = (await world.history(OWNER, gid))[-1]
    assert (last.sender_id, json.loads(last.body)) == (
        0,
        {"event": "group_dissolved", "actor": None},
    )
    assert (await world.chat.conversations(0)).conversations == []


async def test_recording_one_change_twice_stores_it_once(world: World) -> None:
    gid = await world.create()
    system = SystemMessages(store=world.store, groups=world.groups)
    renamed = change("group_renamed", group_id=gid, name="Again", at=world.clock.now)
    before = len(await world.history(OWNER, gid))

    await system.record(renamed)
    await system.record(renamed)

    messages = await world.history(OWNER, gid)
    assert len(messages) == before + 1
    assert messages[-1].client_msg_id == system_client_msg_id(renamed)


class FailingStore(MemoryChatStore):
    fail_system = 0

    async def append(self, draft: MessageDraft) -> MessageRead:
        if draft.msg_type == "system" and self.fail_system:
            self.fail_system -= 1
            raise ConnectionError("database went away")
        return await super().append(draft)


async def test_a_store_failure_is_retried_then_logged_and_the_change_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingStore()
    users = StaticDirectory(range(1, 10))
    groups = GroupsService(store=MemoryGroupStore(), users=users, max_members=50)
    chat = ChatService(store=store, users=users, groups=groups, max_body_bytes=1000)
    gid = (await groups.create(OWNER, GroupCreate(name="Team", member_ids=[MEMBER]))).id

    store.fail_system = 1
    await groups.edit(gid, OWNER, GroupEdit(name="Once"))
    store.fail_system = 10
    with caplog.at_level(logging.ERROR, logger="gomicroim"):
        renamed = await groups.edit(gid, OWNER, GroupEdit(name="Twice"))

    assert renamed.name == "Twice"
    page = await chat.history(OWNER, f"g:{gid}", before_seq=None, after_seq=0, limit=10)
    assert [json.loads(m.body).get("name") for m in page.messages] == ["Team", "Once"]
    failed = [r for r in caplog.records if r.getMessage() == "system message not stored"]
    assert [(r.__dict__["group_id"], r.__dict__["group_event"]) for r in failed] == [
        (gid, "group_renamed")
    ]
    # A user still cannot send one.
    with pytest.raises(Exception, match="reserved"):
        await chat.send(
            OWNER,
            "d",
            MessageSend(
                to=gid, session_type="group", client_msg_id="x", msg_type="system", body="{}"
            ),
        )
