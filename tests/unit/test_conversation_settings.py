"""Mute and pin over fakes: the rules, who may change them, the list and the devices' event."""

from __future__ import annotations

import msgspec
import pytest

from gomicroim.errors import AppError, Forbidden, InvalidInput, NotFound
from gomicroim.http.body import decode_body
from gomicroim.modules.chat import domain
from gomicroim.modules.chat.contract import (
    ConversationSettings,
    ConversationSettingsFacade,
    MessageSend,
    SettingsUpdate,
)
from gomicroim.modules.chat.ports import EntryRow, ListPosition, SettingsChange
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.chat.settings import ConversationSettingsService
from gomicroim.modules.groups.contract import GroupCreate
from gomicroim.modules.groups.service import GroupsService
from tests.fakes import (
    FakeClock,
    MemoryChatStore,
    MemoryGroupStore,
    RecordingReadEvents,
    StaticDirectory,
)

A, B, C = 1, 2, 3
AB = "s:1:2"
NOW = 1_000_000
MINUTE = 60_000


# --- rules -----------------------------------------------------------------------------------


def test_a_mute_holds_only_while_its_time_lies_ahead() -> None:
    assert domain.active_mute(NOW + 1, NOW) == NOW + 1
    assert domain.active_mute(NOW, NOW) is None
    assert domain.active_mute(NOW - 1, NOW) is None
    assert domain.active_mute(None, NOW) is None


def test_an_update_stores_a_past_mute_as_no_mute_and_leaves_absent_fields() -> None:
    assert domain.settings_change(SettingsUpdate(), NOW) == SettingsChange()
    assert domain.settings_change(SettingsUpdate(pinned=True), NOW) == SettingsChange(pinned=True)
    assert domain.settings_change(SettingsUpdate(muted_until=NOW + 5), NOW) == SettingsChange(
        set_muted=True, muted_until=NOW + 5
    )
    for unmute in (None, NOW, 0):
        assert domain.settings_change(SettingsUpdate(muted_until=unmute), NOW) == SettingsChange(
            set_muted=True, muted_until=None
        )


def test_a_list_cursor_carries_the_pin_and_old_cursors_read_as_unpinned() -> None:
    row = EntryRow(
        conversation_id=AB,
        session_type="single",
        last_seq=3,
        read_seq=1,
        last_message=None,
        updated_at=NOW,
        pinned=True,
    )
    position = domain.list_position(row)
    assert position == ListPosition(pinned=True, updated_at=NOW, conversation_id=AB)
    assert domain.decode_cursor(domain.encode_cursor(position)) == position
    # Every pinned entry sorts above every unpinned one, whatever their activity.
    assert position > ListPosition(pinned=False, updated_at=NOW + 10**9, conversation_id=AB)
    legacy = msgspec.json.encode({"updated_at": NOW, "conversation_id": AB})
    cursor = domain.encode_cursor(msgspec.json.decode(legacy, type=ListPosition))
    assert domain.decode_cursor(cursor).pinned is False


class FakeRequest:
    def __init__(self, raw: bytes):
        self.raw = raw

    async def body(self) -> bytes:
        return self.raw


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"pinned": "yes"}', "pinned"),
        (b'{"pinned": 1}', "pinned"),
        (b'{"muted_until": "tomorrow"}', "muted_until"),
        (b'{"muted_until": -1}', "muted_until"),
        (b'{"muted_until": 1.5}', "muted_until"),
        (b'{"muted_until": 9007199254740992}', "muted_until"),
        (b'{"pinned": true, "archived": true}', "archived"),
    ],
)
async def test_a_settings_body_of_wrong_types_or_unknown_fields_is_invalid(
    raw: bytes, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        await decode_body(FakeRequest(raw), SettingsUpdate)  # type: ignore[arg-type]
    assert err.value.code == "invalid_field"
    assert field in str(err.value)


# --- the service -----------------------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        directory = StaticDirectory({A, B, C})
        self.store = MemoryChatStore()
        self.events = RecordingReadEvents()
        self.groups = GroupsService(
            store=MemoryGroupStore(), users=directory, max_members=100, clock=self.clock
        )
        self.chat = ChatService(
            store=self.store,
            users=directory,
            groups=self.groups,
            max_body_bytes=64,
            clock=self.clock,
        )
        self.settings = ConversationSettingsService(
            store=self.store, groups=self.groups, events=self.events, clock=self.clock
        )

    async def send(self, sender: int, to: int, key: str, session_type: str = "single") -> None:
        self.clock.advance(1)
        request = MessageSend(
            to=to,
            session_type=session_type,  # type: ignore[arg-type]
            client_msg_id=key,
            msg_type="text",
            body="hi",
        )
        await self.chat.send(sender, f"dev-{sender}", request)

    async def update(self, user: int, conversation: str, **fields: object) -> ConversationSettings:
        return await self.settings.update_settings(
            user,
            f"dev-{user}",
            conversation,
            SettingsUpdate(**fields),  # type: ignore[arg-type]
        )


async def fails(call: object, kind: type[AppError], code: str) -> None:
    with pytest.raises(kind) as err:
        await call  # type: ignore[misc]
    assert err.value.code == code


async def test_the_service_implements_the_facade() -> None:
    assert isinstance(World().settings, ConversationSettingsFacade)


async def test_a_change_answers_the_new_settings_and_tells_the_users_devices() -> None:
    world = World()
    await world.send(A, B, "m1")

    pinned = await world.update(A, AB, pinned=True)
    muted = await world.update(A, AB, muted_until=NOW + MINUTE)

    assert pinned == ConversationSettings(conversation_id=AB, muted_until=None, pinned=True)
    assert muted == ConversationSettings(conversation_id=AB, muted_until=NOW + MINUTE, pinned=True)
    assert [(e.user_id, e.device_id, e.peer_id, e.settings) for e in world.events.events] == [
        (A, "dev-1", None, pinned),
        (A, "dev-1", None, muted),
    ]


async def test_a_bus_that_refuses_the_event_does_not_fail_the_change() -> None:
    world = World()
    await world.send(A, B, "m1")
    world.events.accept = False

    assert (await world.update(A, AB, pinned=True)).pinned is True
    assert [c.pinned for c in (await world.chat.conversations(A)).conversations] == [True]


async def test_only_participants_change_settings_with_the_read_errors() -> None:
    world = World()
    await world.send(A, B, "m1")
    gid = (await world.groups.create(A, GroupCreate(name="g", member_ids=[B]))).id

    await fails(world.update(C, AB, pinned=True), Forbidden, "not_a_participant")
    await fails(world.update(C, f"g:{gid}", pinned=True), Forbidden, "not_a_member")
    await fails(world.update(A, "g:404", pinned=True), NotFound, "group_not_found")
    await fails(world.update(A, "x:1", pinned=True), InvalidInput, "invalid_conversation_id")
    # A single chat nobody has written in yet has no entry to hold settings.
    await fails(world.update(A, "s:1:3", pinned=True), NotFound, "conversation_not_found")
    assert world.events.events == []
    assert await world.store.muted_users(AB, [A, B, C], NOW) == set()


async def test_pinned_conversations_list_first_and_muted_ones_leave_the_total() -> None:
    world = World()
    await world.send(B, A, "m1")  # s:1:2, oldest
    await world.send(C, A, "m2")  # s:1:3
    await world.send(C, A, "m3")
    gid = (await world.groups.create(B, GroupCreate(name="g", member_ids=[A]))).id
    await world.send(B, gid, "m4", "group")  # newest

    await world.update(A, AB, pinned=True)
    await world.update(A, "s:1:3", muted_until=NOW + MINUTE)
    listing = await world.chat.conversations(A)

    # The group's unread: its group_created system message and m4.
    assert [(c.conversation_id, c.pinned, c.unread) for c in listing.conversations] == [
        (AB, True, 1),
        (f"g:{gid}", False, 2),
        ("s:1:3", False, 2),
    ]
    assert [c.muted_until for c in listing.conversations] == [None, None, NOW + MINUTE]
    assert listing.total_unread == 3

    # Once the mute's time has come it reads as not muted and counts again.
    world.clock.advance(MINUTE)
    listing = await world.chat.conversations(A)
    assert [c.muted_until for c in listing.conversations] == [None, None, None]
    assert listing.total_unread == 5


async def test_a_mute_in_the_past_unmutes() -> None:
    world = World()
    await world.send(A, B, "m1")
    await world.update(A, AB, muted_until=NOW + MINUTE)

    assert (await world.update(A, AB, muted_until=NOW - 1)).muted_until is None
    assert await world.settings.muted_users(AB, [A, B], world.clock()) == set()


async def test_muted_users_says_who_has_a_group_muted() -> None:
    world = World()
    gid = (await world.groups.create(A, GroupCreate(name="g", member_ids=[B, C]))).id
    await world.send(A, gid, "m1", "group")
    await world.update(B, f"g:{gid}", muted_until=NOW + MINUTE)

    assert await world.settings.muted_users(f"g:{gid}", [A, B, C], world.clock()) == {B}
    assert await world.settings.muted_users(f"g:{gid}", [A, B, C], NOW + MINUTE) == set()
