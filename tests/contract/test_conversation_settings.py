"""Contract of the conversation settings on chat's entries: mute, pin, list order, unread."""

from __future__ import annotations

import pytest

from gomicroim.modules.chat.domain import list_position
from gomicroim.modules.chat.ports import ListPosition, MessageDraft, SettingsChange
from gomicroim.modules.chat.storage import SqlChatStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryChatStore

NOW = 1_700_000_000_000
A, B, C = 1, 2, 3
AB = "s:1:2"
GROUP = "g:77"

Store = SqlChatStore | MemoryChatStore


@pytest.fixture
def store(backend: Backend) -> Store:
    return SqlChatStore() if backend.sql else MemoryChatStore()


def pin(value: bool) -> SettingsChange:
    return SettingsChange(pinned=value)


def mute(until: int | None) -> SettingsChange:
    return SettingsChange(set_muted=True, muted_until=until)


def draft(
    client_msg_id: str, conversation_id: str, sender_id: int, to: int, at: int
) -> MessageDraft:
    return MessageDraft(
        conversation_id=conversation_id,
        session_type="group" if conversation_id.startswith("g:") else "single",
        sender_id=sender_id,
        sender_device_id="phone-1",
        to=to,
        client_msg_id=client_msg_id,
        msg_type="text",
        body="hi",
        created_at=at,
    )


async def ids(store: Store, user_id: int) -> list[str]:
    return [r.conversation_id for r in await store.entries(user_id)]


async def walk(store: Store, user_id: int, limit: int) -> list[str]:
    """Every entry of ``user_id``'s list, ``limit`` a page, following the last position."""
    seen: list[str] = []
    before: ListPosition | None = None
    while rows := await store.entries(user_id, before=before, limit=limit):
        assert len(rows) <= limit
        seen += [r.conversation_id for r in rows]
        before = list_position(rows[-1])
    return seen


async def test_settings_start_unset_and_change_one_field_at_a_time(store: Store) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    [row] = await store.entries(A)
    assert (row.pinned, row.muted_until) == (False, None)

    assert await store.update_settings(A, AB, pin(True)) == (None, True)
    assert await store.update_settings(A, AB, mute(NOW + 60_000)) == (NOW + 60_000, True)
    assert await store.update_settings(A, AB, SettingsChange()) == (NOW + 60_000, True)
    assert await store.update_settings(A, AB, pin(False)) == (NOW + 60_000, False)
    assert await store.update_settings(A, AB, mute(None)) == (None, False)

    # Per user: B's entry of the same conversation never changed.
    [theirs] = await store.entries(B)
    assert (theirs.pinned, theirs.muted_until) == (False, None)


async def test_settings_of_a_missing_entry_store_nothing(store: Store) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)

    assert await store.update_settings(C, AB, pin(True)) is None
    assert await store.update_settings(A, "s:1:9", pin(True)) is None
    assert await store.entries(C) == []
    assert [r.pinned for r in await store.entries(A)] == [False]


async def test_pinned_entries_list_first_then_by_activity(store: Store) -> None:
    for i in range(5):
        await store.ensure_conversation(f"s:1:{100 + i}", "single", {A, 100 + i}, NOW + i)
    await store.update_settings(A, "s:1:101", pin(True))
    await store.update_settings(A, "s:1:103", pin(True))

    assert await ids(store, A) == ["s:1:103", "s:1:101", "s:1:104", "s:1:102", "s:1:100"]
    rows = await store.entries(A, limit=2)
    assert [(r.conversation_id, r.pinned) for r in rows] == [("s:1:103", True), ("s:1:101", True)]
    # Unpinning puts it back among the others by activity.
    await store.update_settings(A, "s:1:103", pin(False))
    assert await ids(store, A) == ["s:1:101", "s:1:104", "s:1:103", "s:1:102", "s:1:100"]


async def test_pages_through_pinned_then_unpinned_entries_return_each_once(store: Store) -> None:
    # Ties in activity on both sides of the pin, and pins among old and new conversations.
    for i in range(9):
        await store.ensure_conversation(f"s:1:{100 + i}", "single", {A, 100 + i}, NOW + i // 3)
    for peer in (100, 104, 105, 108):
        await store.update_settings(A, f"s:1:{peer}", pin(True))
    expected = [
        *["s:1:108", "s:1:105", "s:1:104", "s:1:100"],
        *["s:1:107", "s:1:106", "s:1:103", "s:1:102", "s:1:101"],
    ]

    assert await ids(store, A) == expected
    for limit in (1, 2, 3, 4, 5, 9, 20):
        assert await walk(store, A, limit) == expected


async def test_a_cursor_below_the_pinned_part_skips_every_pinned_entry(store: Store) -> None:
    for i in range(3):
        await store.ensure_conversation(f"s:1:{100 + i}", "single", {A, 100 + i}, NOW + i)
    await store.update_settings(A, "s:1:100", pin(True))

    def at(pinned: bool, updated_at: int, conversation_id: str) -> ListPosition:
        return ListPosition(pinned=pinned, updated_at=updated_at, conversation_id=conversation_id)

    async def below(position: ListPosition) -> list[str]:
        return [r.conversation_id for r in await store.entries(A, before=position, limit=10)]

    assert await below(at(True, NOW, "s:1:100")) == ["s:1:102", "s:1:101"]
    assert await below(at(False, NOW + 99, "s:9:9")) == ["s:1:102", "s:1:101"]
    assert await below(at(True, NOW + 99, "s:9:9")) == ["s:1:100", "s:1:102", "s:1:101"]
    # A cursor made before pins existed reads as unpinned.
    assert await below(ListPosition(updated_at=NOW + 2, conversation_id="s:1:102")) == ["s:1:101"]


async def test_total_unread_leaves_out_conversations_muted_now(store: Store) -> None:
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.ensure_conversation(GROUP, "group", {A, B}, NOW)
    for i in range(3):
        await store.append(draft(f"s{i}", AB, B, A, NOW))
    for i in range(2):
        await store.append(draft(f"g{i}", GROUP, B, 77, NOW))
    assert await store.total_unread(A, NOW) == 5

    await store.update_settings(A, GROUP, mute(NOW + 1000))

    assert await store.total_unread(A, NOW) == 3
    assert await store.total_unread(A, NOW + 999) == 3
    # The mute has ended at its instant: counted again.
    assert await store.total_unread(A, NOW + 1000) == 5
    # The muted entry keeps its own unread; B's total is B's own.
    group = next(r for r in await store.entries(A) if r.conversation_id == GROUP)
    assert (group.last_seq - group.read_seq, group.muted_until) == (2, NOW + 1000)
    assert await store.total_unread(B, NOW) == 0


async def test_muted_users_answers_who_has_it_muted_at_that_instant(store: Store) -> None:
    await store.ensure_conversation(GROUP, "group", {A, B, C}, NOW)
    await store.ensure_conversation(AB, "single", {A, B}, NOW)
    await store.update_settings(A, GROUP, mute(NOW + 10))
    await store.update_settings(B, GROUP, mute(NOW + 20))
    await store.update_settings(C, GROUP, pin(True))
    await store.update_settings(A, AB, mute(NOW + 99))

    assert await store.muted_users(GROUP, [A, B, C], NOW) == {A, B}
    assert await store.muted_users(GROUP, [A, B, C], NOW + 10) == {B}
    assert await store.muted_users(GROUP, [A, B, C], NOW + 20) == set()
    assert await store.muted_users(GROUP, [B, 404], NOW) == {B}
    assert await store.muted_users(GROUP, [], NOW) == set()
    assert await store.muted_users(AB, (A, B), NOW) == {A}
    await store.update_settings(B, GROUP, mute(None))
    assert await store.muted_users(GROUP, [A, B, C], NOW) == {A}


async def test_settings_go_with_the_entry_when_a_member_leaves(store: Store) -> None:
    await store.ensure_conversation(GROUP, "group", set(), NOW)
    await store.sync_members(GROUP, 1, {A, B}, NOW)
    await store.update_settings(B, GROUP, mute(NOW + 10_000))
    await store.update_settings(B, GROUP, pin(True))

    await store.sync_members(GROUP, 2, {A}, NOW)
    assert await store.muted_users(GROUP, [B], NOW) == set()
    await store.sync_members(GROUP, 3, {A, B}, NOW)

    [row] = await store.entries(B)
    assert (row.pinned, row.muted_until) == (False, None)
