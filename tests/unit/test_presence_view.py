"""Who sees whose presence, and the parsing and bounds of ``GET /api/v1/presence``."""

from __future__ import annotations

import pytest

from gomicroim.errors import InvalidInput
from gomicroim.modules.presence.contract import DeviceConnection, PresenceRead
from gomicroim.modules.presence.http import parse_user_ids
from gomicroim.modules.presence.view import PresenceView, SharedConversations
from tests.fakes.presence import memory_presence

ME, PEER, MATE, STRANGER = 1, 2, 3, 4


class Chat:
    """Single conversations between pairs; records what it was asked."""

    def __init__(self, pairs: set[frozenset[int]]):
        self.pairs = pairs
        self.asked: list[set[int]] = []

    async def single_peers(self, user_id: int, candidates: set[int]) -> set[int]:
        self.asked.append(set(candidates))
        return {c for c in candidates if frozenset({user_id, c}) in self.pairs}


class Groups:
    """Groups as member sets; records what it was asked."""

    def __init__(self, groups: list[set[int]]):
        self.groups = groups
        self.asked: list[set[int]] = []

    async def co_members(self, user_id: int, candidates: set[int]) -> set[int]:
        self.asked.append(set(candidates))
        return {c for g in self.groups if user_id in g for c in candidates & g}


def contacts(chat: Chat, groups: Groups) -> SharedConversations:
    return SharedConversations(chat=chat, groups=groups)  # type: ignore[arg-type]


async def test_contacts_are_single_peers_and_group_mates_asked_once_each() -> None:
    chat, groups = Chat({frozenset({ME, PEER})}), Groups([{ME, MATE}, {PEER, STRANGER}])

    shared = await contacts(chat, groups).shared(ME, {ME, PEER, MATE, STRANGER})

    assert shared == {PEER, MATE}
    assert chat.asked == [{PEER, MATE, STRANGER}]
    assert groups.asked == [{MATE, STRANGER}]  # the single peer is not asked about again


async def test_contacts_skip_groups_when_every_candidate_is_a_single_peer() -> None:
    chat, groups = Chat({frozenset({ME, PEER})}), Groups([])

    assert await contacts(chat, groups).shared(ME, {PEER}) == {PEER}
    assert await contacts(chat, groups).shared(ME, {ME}) == set()
    assert groups.asked == []


def view(presence_max: int = 100) -> tuple[PresenceView, Chat]:
    presence, _ = memory_presence()
    chat = Chat({frozenset({ME, PEER})})
    made = PresenceView(
        presence=presence, contacts=contacts(chat, Groups([{ME, MATE}])), max_ids=presence_max
    )
    return made, chat


async def test_presence_lists_only_visible_users_in_asked_order_once_each() -> None:
    presence_view, _ = view()

    listed = await presence_view.presence(ME, [STRANGER, MATE, 999, ME, MATE, PEER])

    assert [p.user_id for p in listed.presence] == [MATE, ME, PEER]
    assert all(
        p == PresenceRead(user_id=p.user_id, online=False, last_seen_at=None)
        for p in listed.presence
    )


async def test_presence_reports_online_users() -> None:
    presence, _ = memory_presence()
    async with presence.hold("n1"):
        await presence.connected(
            DeviceConnection(
                user_id=PEER, device_id="d", client_type="web", node_id="n1", connection_id="c"
            )
        )
        presence_view = PresenceView(
            presence=presence, contacts=contacts(Chat({frozenset({ME, PEER})}), Groups([]))
        )
        listed = await presence_view.presence(ME, [PEER, STRANGER])

    assert listed.presence == [PresenceRead(user_id=PEER, online=True, last_seen_at=None)]


async def test_more_distinct_ids_than_the_bound_is_refused_before_any_lookup() -> None:
    presence_view, chat = view(presence_max=3)

    ok = await presence_view.presence(ME, [PEER, PEER, PEER, MATE, STRANGER])
    with pytest.raises(InvalidInput) as refused:
        await presence_view.presence(ME, [PEER, MATE, STRANGER, 999])

    assert [p.user_id for p in ok.presence] == [PEER, MATE]
    assert refused.value.code == "too_many_user_ids"
    assert refused.value.field == "user_ids"
    assert len(chat.asked) == 1


async def test_the_caller_always_sees_themself_without_a_lookup() -> None:
    presence_view, chat = view()

    assert await presence_view.visible(ME, [ME]) == {ME}
    assert chat.asked == []


@pytest.mark.parametrize(
    ("text", "ids"),
    [("1", [1]), ("1,2,3", [1, 2, 3]), (" 4 , 5", [4, 5]), ("9007199254740991", [2**53 - 1])],
)
def test_user_ids_parse(text: str, ids: list[int]) -> None:
    assert parse_user_ids(text) == ids


@pytest.mark.parametrize(
    "text", ["", "1,", ",1", "1,,2", "a", "1.5", "-1", "0", "9007199254740992", "\u0661", "1;2"]
)
def test_malformed_user_ids_are_invalid_field(text: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        parse_user_ids(text)
    assert (bad.value.code, bad.value.field) == ("invalid_field", "user_ids")
