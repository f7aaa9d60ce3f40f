"""The conversation list over a real server: cursor pages, limits, previews, group membership."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.client import Api, Json, User, assert_error, conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

PAGE = 5
MAX_LIMIT = 8
PREVIEW = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, with small list pages and previews."""
    root = tmp_path_factory.mktemp("conversation-list")
    process = ServerProcess(
        data_dir=root / "data",
        log_dir=root,
        env={
            "GOMICROIM__CHAT__CONVERSATIONS_PAGE_LIMIT": str(PAGE),
            "GOMICROIM__CHAT__CONVERSATIONS_MAX_LIMIT": str(MAX_LIMIT),
            "GOMICROIM__CHAT__PREVIEW_CHARS": str(PREVIEW),
        },
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def tick() -> None:
    """Let the millisecond clock move so activity order is unambiguous."""
    await asyncio.sleep(0.01)


async def walk(api: Api, user: User, **params: Any) -> list[Json]:
    """Every page of the user's list, following ``next_before`` to the end."""
    pages = []
    while True:
        page = await api.conversations(user, **params)
        pages.append(page)
        if page["next_before"] is None:
            return pages
        params["before"] = page["next_before"]


def ids(page: Json) -> list[str]:
    return [c["conversation_id"] for c in page["conversations"]]


async def test_paging_walks_every_conversation_once_in_activity_order(api: Api) -> None:
    me = await api.register_and_login("me")
    peers = [await api.register_and_login(f"p{i}") for i in range(7)]
    group = await api.create_group(peers[0], "g", [me])
    for i in (3, 0, 5, 1, 6, 2, 4):
        await api.send(peers[i], me.id, f"m{i}")
        await tick()
    await api.send_group(peers[0], group["id"], "in group")

    pages = await walk(api, me, limit=3)

    walked = [c for page in pages for c in page["conversations"]]
    expected = [f"g:{group['id']}"] + [
        conversation_id(me.id, peers[i].id) for i in (4, 2, 6, 1, 5, 0, 3)
    ]
    assert [c["conversation_id"] for c in walked] == expected
    assert [len(page["conversations"]) for page in pages] == [3, 3, 2]
    times = [c["updated_at"] for c in walked]
    assert times == sorted(times, reverse=True)
    # Every page counts the unread of the whole list, not of itself (the group's
    # group_created system message is one of them).
    assert {page["total_unread"] for page in pages} == {9}
    # The default page size is chat.conversations_page_limit.
    first = await api.conversations(me)
    assert ids(first) == expected[:PAGE]
    assert first["next_before"] is not None
    everything = await api.conversations(me, limit=MAX_LIMIT)
    assert (ids(everything), everything["next_before"]) == (expected, None)


async def test_a_conversation_that_becomes_active_moves_to_the_first_page(api: Api) -> None:
    me = await api.register_and_login("me")
    peers = [await api.register_and_login(f"p{i}") for i in range(PAGE + 2)]
    for peer in peers:
        await api.send(peer, me.id, "hi")
        await tick()
    oldest = conversation_id(me.id, peers[0].id)
    assert oldest not in ids(await api.conversations(me))

    await api.send(peers[0], me.id, "again")

    assert ids(await api.conversations(me))[0] == oldest


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        (f"limit={MAX_LIMIT + 1}", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("before=garbage", "before"),
        ("before=", "before"),
        ("before=W10", "before"),  # base64 of [], not a list position
        ("before=" + "x" * 300, "before"),
    ],
)
async def test_limits_and_cursors_out_of_range_are_refused(
    api: Api, query: str, field: str
) -> None:
    me = await api.register_and_login("me")
    response = await api.client.get(f"/api/v1/conversations?{query}", headers=me.headers)
    error = assert_error(response, 400)
    assert error["field"] == field, error


async def test_a_stranger_cannot_grow_a_page_nor_its_previews(api: Api) -> None:
    me = await api.register_and_login("me")
    friend = await api.register_and_login("friend")
    await api.send(friend, me.id, "hello")
    strangers = [await api.register_and_login(f"s{i}") for i in range(PAGE + 3)]
    long_body = "é🙂" * 5000  # 10 000 characters, well under the body byte limit
    await asyncio.gather(*(api.send(s, me.id, long_body) for s in strangers))

    page = await api.conversations(me)

    assert len(page["conversations"]) == PAGE
    assert page["next_before"] is not None
    for entry in page["conversations"]:
        preview = entry["last_message"]
        assert (preview["body"], preview["truncated"]) == (long_body[:PREVIEW], True)
    assert len((await api.client.get("/api/v1/conversations", headers=me.headers)).content) < 4000
    # The friend is still there, further down, and the total counts everyone.
    walked = [c["conversation_id"] for p in await walk(api, me) for c in p["conversations"]]
    assert walked.count(conversation_id(me.id, friend.id)) == 1
    assert len(walked) == PAGE + 4
    assert page["total_unread"] == PAGE + 4


async def test_previews_are_cut_at_the_limit_and_flagged(api: Api) -> None:
    me = await api.register_and_login("me")
    cut = await api.register_and_login("cut")
    whole = await api.register_and_login("whole")
    body = "x" * PREVIEW + "y"
    sent = await api.send(cut, me.id, body)
    await api.send(whole, me.id, "z" * PREVIEW)

    entries = {
        c["peer_id"]: c["last_message"] for c in (await api.conversations(me))["conversations"]
    }

    assert entries[cut.id] == {**sent, "body": "x" * PREVIEW, "truncated": True}
    assert (entries[whole.id]["body"], entries[whole.id]["truncated"]) == ("z" * PREVIEW, False)
    # The whole body stays in the history.
    assert [m["body"] for m in await api.history(me, conversation_id(me.id, cut.id))] == [body]


async def test_group_members_see_the_group_at_once_and_leavers_lose_it(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    group = await api.create_group(owner, "team", [ann])
    conv = f"g:{group['id']}"

    # Listed at creation, before anyone posts; only the creation (the owner's own system
    # message) is unread, for Ann.
    for user, unread in ((owner, 0), (ann, 1)):
        listing = await api.conversations(user)
        assert ids(listing) == [conv]
        assert listing["total_unread"] == unread
    for i in range(3):
        await api.send_group(owner, group["id"], f"m{i}")

    added = await api.client.post(
        f"/api/v1/groups/{group['id']}/members", json={"user_ids": [ben.id]}, headers=owner.headers
    )
    assert added.status_code == 200, added.text
    listing = await api.conversations(ben)
    [entry] = listing["conversations"]
    # Ben's only unread message is his own member_added (seq 5); m0..m2 came before
    # him and are not his to see (join-time history).
    assert (entry["conversation_id"], entry["last_seq"], entry["unread"]) == (conv, 5, 1)
    # The preview is cut to chat.preview_chars here; the whole body is in the history.
    assert entry["last_message"]["msg_type"] == "system"
    assert entry["last_message"]["truncated"] is True
    assert '{"event":"member_added"'.startswith(entry["last_message"]["body"])
    assert listing["total_unread"] == 1

    # Ann has five unread; leaving takes the group and its count off her list at once.
    assert (await api.conversations(ann))["total_unread"] == 5
    left = await api.client.delete(
        f"/api/v1/groups/{group['id']}/members/{ann.id}", headers=ann.headers
    )
    assert left.status_code == 204
    assert await api.conversations(ann) == {
        "conversations": [],
        "total_unread": 0,
        "next_before": None,
    }
    removed = await api.client.delete(
        f"/api/v1/groups/{group['id']}/members/{ben.id}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert ids(await api.conversations(ben)) == []
