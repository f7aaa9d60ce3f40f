"""Contract of chat's visibility windows: written by ``sync_members``, read by the window store."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.modules.chat.ports import ChatStore, VisibilityStore
from gomicroim.modules.chat.storage import SqlChatStore
from gomicroim.modules.chat.storage.visibility import SqlVisibilityStore
from gomicroim.modules.chat.visibility import SeqWindow
from tests.contract.conftest import Backend
from tests.contract.test_chat_store import GROUP, NOW, A, B, C, D, draft, entry
from tests.fakes import MemoryChatStore, MemoryVisibilityStore


@pytest.fixture
def chat(backend: Backend) -> ChatStore:
    return SqlChatStore() if backend.sql else MemoryChatStore()


@pytest.fixture
def windows(backend: Backend, chat: ChatStore) -> VisibilityStore:
    if backend.sql:
        return SqlVisibilityStore()
    assert isinstance(chat, MemoryChatStore)
    return MemoryVisibilityStore(chat)


async def _group(chat: ChatStore, members: set[int]) -> None:
    await chat.ensure_conversation(GROUP, "group", set(), NOW)
    await chat.sync_members(GROUP, 1, members, NOW)


async def _send(chat: ChatStore, count: int, *, prefix: str = "m") -> None:
    for i in range(count):
        await chat.append(draft(f"{prefix}{i}", conversation_id=GROUP, to=77))


async def _page(
    chat: ChatStore,
    spells: list[SeqWindow],
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 100,
) -> tuple[list[int], bool]:
    messages, more = await chat.history(
        GROUP, before_seq=before, after_seq=after, limit=limit, windows=spells
    )
    return [m.seq for m in messages], more


async def test_initial_members_see_from_seq_one_and_a_later_member_from_the_next_seq(
    chat: ChatStore, windows: VisibilityStore
) -> None:
    await _group(chat, {A, B})
    await _send(chat, 3)

    await chat.sync_members(GROUP, 2, {A, B, C}, NOW + 1)

    assert await windows.windows(GROUP, A) == [SeqWindow(start=1)]
    assert await windows.windows(GROUP, C) == [SeqWindow(start=4)]
    joined = await entry(chat, C, GROUP)
    assert joined is not None
    assert joined.read_seq == 3


async def test_leaving_closes_the_window_at_the_last_seq_and_rejoining_opens_a_new_one(
    chat: ChatStore, windows: VisibilityStore
) -> None:
    await _group(chat, {A, B})
    await _send(chat, 2)
    await chat.sync_members(GROUP, 2, {A}, NOW + 1)
    await _send(chat, 3, prefix="away")
    await chat.sync_members(GROUP, 3, {A, B}, NOW + 2)

    assert await windows.windows(GROUP, B) == [SeqWindow(start=1, end=2), SeqWindow(start=6)]
    assert await windows.current_starts(B, [GROUP, "g:999"]) == {GROUP: 6}


async def test_an_older_membership_version_records_no_window(
    chat: ChatStore, windows: VisibilityStore
) -> None:
    await _group(chat, {A})
    await chat.sync_members(GROUP, 3, {A, B}, NOW)
    await chat.sync_members(GROUP, 2, {A, C}, NOW)

    assert await windows.windows(GROUP, C) == []
    assert await windows.windows(GROUP, B) == [SeqWindow(start=1)]


async def test_joined_after_names_only_members_whose_open_window_starts_later(
    chat: ChatStore, windows: VisibilityStore
) -> None:
    await _group(chat, {A, B})
    await _send(chat, 2)
    await chat.sync_members(GROUP, 2, {A, B, C}, NOW)
    await _send(chat, 2, prefix="n")
    await chat.sync_members(GROUP, 3, {A, B, C, D}, NOW)
    await chat.sync_members(GROUP, 4, {A, C, D}, NOW)

    # C's window opened after seq 2, D's after seq 4 (the n-messages are seqs 3 and 4).
    assert await windows.joined_after(GROUP, 2) == {C: 3, D: 5}
    assert await windows.joined_after(GROUP, 3) == {D: 5}
    assert await windows.joined_after(GROUP, 4) == {D: 5}
    assert await windows.joined_after(GROUP, 5) == {}


async def test_history_pages_stay_inside_the_window(chat: ChatStore) -> None:
    await _group(chat, {A})
    await _send(chat, 10)
    spell = [SeqWindow(start=6)]

    assert await _page(chat, spell) == ([6, 7, 8, 9, 10], False)
    assert await _page(chat, spell, limit=3) == ([8, 9, 10], True)
    assert await _page(chat, spell, before=8, limit=3) == ([6, 7], False)
    assert await _page(chat, spell, after=0, limit=3) == ([6, 7, 8], True)
    assert await _page(chat, spell, after=8) == ([9, 10], False)


async def test_history_reads_several_spells_and_nothing_between_them(chat: ChatStore) -> None:
    await _group(chat, {A})
    await _send(chat, 10)
    spells = [SeqWindow(start=2, end=3), SeqWindow(start=8)]

    assert await _page(chat, spells) == ([2, 3, 8, 9, 10], False)
    assert await _page(chat, spells, before=9, limit=2) == ([3, 8], True)
    assert await _page(chat, [SeqWindow(start=2, end=3)], after=3) == ([], False)
    assert await _page(chat, []) == ([], False)


async def test_a_join_racing_sends_opens_its_window_right_after_its_read_seq(
    chat: ChatStore, windows: VisibilityStore
) -> None:
    await _group(chat, {A})
    sends = [chat.append(draft(f"r{i}", conversation_id=GROUP, to=77)) for i in range(20)]
    await asyncio.gather(*sends[:10], chat.sync_members(GROUP, 2, {A, B}, NOW), *sends[10:])

    [spell] = await windows.windows(GROUP, B)
    joined = await entry(chat, B, GROUP)
    assert joined is not None
    # Whatever side each message fell on, the window and the read position agree on it.
    assert spell.start == joined.read_seq + 1
    visible, _ = await _page(chat, [spell])
    assert visible == list(range(spell.start, 21))
