"""History paging ("roaming") in both directions, and read positions with unread counts."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.client import (
    Api,
    Json,
    SyncApi,
    User,
    assert_error,
    conversation_id,
    json_object,
)
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

TOTAL = 25


async def chat_with_history(api: Api, total: int = TOTAL) -> tuple[User, User, str]:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob", client_type="web")
    for n in range(1, total + 1):
        sender, peer = (alice, bob) if n % 3 else (bob, alice)
        await api.send(sender, peer.id, f"m{n}")
    return alice, bob, conversation_id(alice.id, bob.id)


@pytest.fixture(scope="module")
def shared_chat(server: ServerProcess) -> tuple[dict[str, str], dict[str, str], str]:
    """A 25-message chat built once for the read-only paging cases: (alice, bob, conv id)."""
    with httpx.Client(base_url=server.base_url) as http:
        setup = SyncApi(http)
        alice = setup.register_and_login("alice")
        bob = setup.register_and_login("bob", client_type="web")
        for n in range(1, TOTAL + 1):
            sender, peer = (alice, bob) if n % 3 else (bob, alice)
            setup.send(sender, peer["user_id"], f"m{n}")
    return alice["headers"], bob["headers"], conversation_id(alice["user_id"], bob["user_id"])


def seqs(page: Json) -> list[int]:
    return [m["seq"] for m in page["messages"]]


@pytest.mark.parametrize(
    ("params", "expected", "has_more"),
    [
        ({}, list(range(1, 26)), False),
        ({"limit": 10}, list(range(16, 26)), True),
        ({"before_seq": 16, "limit": 10}, list(range(6, 16)), True),
        ({"before_seq": 6, "limit": 10}, [1, 2, 3, 4, 5], False),
        ({"before_seq": 11, "limit": 10}, list(range(1, 11)), False),
        ({"before_seq": 1}, [], False),
        ({"before_seq": 1000, "limit": 3}, [23, 24, 25], True),
        ({"after_seq": 0, "limit": 10}, list(range(1, 11)), True),
        ({"after_seq": 10, "limit": 10}, list(range(11, 21)), True),
        ({"after_seq": 15, "limit": 10}, list(range(16, 26)), False),
        ({"after_seq": 20, "limit": 10}, [21, 22, 23, 24, 25], False),
        ({"after_seq": 25}, [], False),
        ({"after_seq": 1000}, [], False),
        ({"after_seq": 0, "limit": 1}, [1], True),
        ({"after_seq": 0, "limit": 100}, list(range(1, 26)), False),
    ],
    ids=lambda v: (
        "&".join(f"{k}={n}" for k, n in v.items()) or "newest" if isinstance(v, dict) else None
    ),
)
async def test_history_pages_hold_exactly_the_right_seqs(
    api: Api,
    shared_chat: tuple[dict[str, str], dict[str, str], str],
    params: dict[str, int],
    expected: list[int],
    has_more: bool,
) -> None:
    *readers, conv = shared_chat
    for headers in readers:
        response = await api.client.get(
            f"/api/v1/conversations/{conv}/messages", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["conversation_id"] == conv
        assert seqs(page) == expected
        assert page["has_more"] is has_more
        assert [m["body"] for m in page["messages"]] == [f"m{s}" for s in expected]


async def test_paging_back_from_the_newest_page_reaches_the_first_message(
    api: Api, shared_chat: tuple[dict[str, str], dict[str, str], str]
) -> None:
    alice, _, conv = shared_chat

    async def page(**params: int) -> Json:
        response = await api.client.get(
            f"/api/v1/conversations/{conv}/messages", params=params, headers=alice
        )
        assert response.status_code == 200, response.text
        return json_object(response)

    seen: list[int] = []
    current = await page(limit=7)
    pages = 1
    while True:
        seen = seqs(current) + seen
        if not current["has_more"]:
            break
        current = await page(before_seq=current["messages"][0]["seq"], limit=7)
        pages += 1
    assert seen == list(range(1, TOTAL + 1))
    assert pages == 4


async def test_paging_forward_catches_up_with_new_messages(api: Api) -> None:
    alice, bob, conv = await chat_with_history(api, total=5)
    page = await api.page(bob, conv, after_seq=0, limit=5)
    assert (seqs(page), page["has_more"]) == ([1, 2, 3, 4, 5], False)
    await api.send(alice, bob.id, "late")
    page = await api.page(bob, conv, after_seq=5, limit=5)
    assert (seqs(page), page["has_more"]) == ([6], False)
    assert page["messages"][0]["body"] == "late"


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("before_seq=5&after_seq=1", "conflicting_cursors", None),
        ("limit=0", "invalid_field", "limit"),
        ("limit=101", "invalid_field", "limit"),
        ("limit=ten", "invalid_field", "limit"),
        ("before_seq=-1", "invalid_field", "before_seq"),
        ("after_seq=x", "invalid_field", "after_seq"),
    ],
)
async def test_bad_paging_parameters_are_400(
    api: Api,
    shared_chat: tuple[dict[str, str], dict[str, str], str],
    query: str,
    code: str,
    field: str | None,
) -> None:
    alice, _, conv = shared_chat
    response = await api.client.get(f"/api/v1/conversations/{conv}/messages?{query}", headers=alice)
    assert_error(response, 400, code, field)


async def test_unread_counts_follow_reads_forward_only_and_clamped(api: Api) -> None:
    alice, bob, conv = await chat_with_history(api, total=12)
    # Bob sent seqs 3, 6, 9, 12 (his read position follows his own sends) -> read_seq 12.
    # Alice sent 11 last of hers; Bob's seq 12 is unread for her.
    alice_entry = await api.conversation(alice, conv)
    assert alice_entry is not None
    assert (alice_entry["last_seq"], alice_entry["read_seq"], alice_entry["unread"]) == (12, 11, 1)

    carol = await api.register_and_login("carol")
    for n in range(5):
        await api.send(carol, bob.id, f"c{n}")
    with_carol = conversation_id(bob.id, carol.id)
    assert (await api.conversations(bob))["total_unread"] == 5

    assert await api.mark_read(bob, with_carol, 2) == {
        "conversation_id": with_carol,
        "read_seq": 2,
        "last_seq": 5,
        "unread": 3,
    }
    # Never backwards.
    back = await api.mark_read(bob, with_carol, 1)
    assert (back["read_seq"], back["unread"]) == (2, 3)
    zero = await api.mark_read(bob, with_carol, 0)
    assert (zero["read_seq"], zero["unread"]) == (2, 3)
    # Past the end is clamped to the last seq; unread never goes negative.
    beyond = await api.mark_read(bob, with_carol, 10_000)
    assert (beyond["read_seq"], beyond["last_seq"], beyond["unread"]) == (5, 5, 0)
    beyond = await api.mark_read(bob, with_carol, 2**53 - 1)
    assert (beyond["read_seq"], beyond["unread"]) == (5, 0)

    entry = await api.conversation(bob, with_carol)
    assert entry is not None
    assert (entry["read_seq"], entry["unread"]) == (5, 0)
    assert (await api.conversations(bob))["total_unread"] == 0

    # A message after a clamped read is unread again, counted from the clamped position.
    await api.send(carol, bob.id, "more")
    entry = await api.conversation(bob, with_carol)
    assert entry is not None
    assert (entry["last_seq"], entry["read_seq"], entry["unread"]) == (6, 5, 1)
    assert (await api.conversations(bob))["total_unread"] == 1


async def test_group_read_positions_are_per_member(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    group = await api.create_group(owner, "g", [ann, ben])
    conv = f"g:{group['id']}"
    for n in range(4):
        await api.send_group(owner, group["id"], f"g{n}")

    # Seq 1 is the group_created system message, g0..g3 are 2..5.
    assert (await api.mark_read(ann, conv, 4))["unread"] == 1
    ann_entry = await api.conversation(ann, conv)
    ben_entry = await api.conversation(ben, conv)
    assert ann_entry is not None
    assert ben_entry is not None
    assert (ann_entry["read_seq"], ann_entry["unread"]) == (4, 1)
    assert (ben_entry["read_seq"], ben_entry["unread"]) == (0, 5)


async def test_member_added_later_sees_only_new_messages_as_unread(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    late = await api.register_and_login("late")
    group = await api.create_group(owner, "g", [ann])
    conv = f"g:{group['id']}"
    for n in range(3):
        await api.send_group(ann, group["id"], f"before {n}")

    added = await api.client.post(
        f"/api/v1/groups/{group['id']}/members", json={"user_ids": [late.id]}, headers=owner.headers
    )
    assert added.status_code == 200
    await api.send_group(owner, group["id"], "welcome")

    entry = await api.conversation(late, conv)
    assert entry is not None
    # 1 group_created, 2..4 before, 5 member_added (the newcomer's own), 6 welcome.
    assert (entry["last_seq"], entry["read_seq"], entry["unread"]) == (6, 4, 2)
    # Join-time history (groups.new_members_see_history = false): their own member_added on.
    assert [m["seq"] for m in await api.history(late, conv)] == [5, 6]
