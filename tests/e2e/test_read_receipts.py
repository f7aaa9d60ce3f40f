"""Who read it, over a real server: readers of a message in a 2,000-member group and in a chat."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.client import Api, Json, User, assert_error, conversation_id, unique_name

#: The largest group the default config allows (groups.max_members), owner included.
GROUP_SIZE = 2000
#: Registrations in flight at once: enough to keep both of the server's hash slots busy.
REGISTERING = 16


def readers_url(conv: str, seq: int) -> str:
    return f"/api/v1/conversations/{conv}/messages/{seq}/readers"


async def readers(api: Api, user: User, conv: str, seq: int, **params: int | str) -> Json:
    response = await api.client.get(readers_url(conv, seq), params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "conversation_id",
        "seq",
        "readers",
        "next_cursor",
        "read_count",
        "unread_count",
    }, body
    return dict(body)


async def every_page(api: Api, user: User, conv: str, seq: int, limit: int) -> list[Json]:
    pages = [await readers(api, user, conv, seq, limit=limit)]
    while pages[-1]["next_cursor"] is not None:
        cursor = pages[-1]["next_cursor"]
        pages.append(await readers(api, user, conv, seq, limit=limit, cursor=cursor))
    return pages


async def register_many(api: Api, count: int) -> list[int]:
    """``count`` users that exist (no device logged in): members who never open the app."""
    gate = asyncio.Semaphore(REGISTERING)

    async def one() -> int:
        async with gate:
            user_id: int = (await api.register(unique_name("crowd")))["id"]
            return user_id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_readers_of_a_message_in_a_2000_member_group(api: Api) -> None:
    started = time.monotonic()
    owner = await api.register_and_login("owner")
    active = [await api.register_and_login(f"active{n}") for n in range(8)]
    outsider = await api.register_and_login("outsider")
    crowd = await register_many(api, GROUP_SIZE - 1 - len(active))
    response = await api.client.post(
        "/api/v1/groups",
        json={"name": "everyone", "member_ids": [u.id for u in active] + crowd},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    gid = response.json()["id"]
    conv = f"g:{gid}"
    seqs = [(await api.send_group(owner, gid, f"news {n}"))["seq"] for n in range(5)]
    target = seqs[1]
    # Some read past the message, some exactly up to it, some only up to the one before.
    reads = list(
        zip(active[:7], [seqs[4], seqs[4], seqs[3], target, target, seqs[0], seqs[0]], strict=True)
    )
    for user, seq in reads:
        await api.mark_read(user, conv, seq)
    # Sending reads up to one's own message: the eighth active member has read the target too.
    late = (await api.send_group(active[7], gid, "me too"))["seq"]
    positions = {u.id: s for u, s in reads} | {active[7].id: late}
    expected = sorted((s, u) for u, s in positions.items() if s >= target)

    pages = await every_page(api, active[0], conv, target, limit=2)

    assert all(len(p["readers"]) <= 2 for p in pages)
    assert all(p["next_cursor"] for p in pages[:-1])
    listed = [(r["read_seq"], r["user_id"]) for p in pages for r in p["readers"]]
    assert listed == expected  # each reader exactly once; the sender (owner) never
    others = GROUP_SIZE - 1
    assert {(p["read_count"], p["unread_count"]) for p in pages} == {
        (len(expected), others - len(expected))
    }
    first = await readers(api, owner, conv, target)  # default limit: 50, one page here
    assert (first["conversation_id"], first["seq"]) == (conv, target)
    assert [(r["read_seq"], r["user_id"]) for r in first["readers"]] == expected
    assert first["next_cursor"] is None

    # Everyone who has the group on screen catches up: pages stop at the limit.
    for user in active:
        await api.mark_read(user, conv, late)
    big = await readers(api, owner, conv, 1, limit=3)
    assert len(big["readers"]) == 3
    assert big["next_cursor"] is not None
    assert (big["read_count"], big["unread_count"]) == (len(active), others - len(active))

    assert_error(
        await api.client.get(readers_url(conv, target), headers=outsider.headers),
        403,
        "not_a_member",
    )

    # A member who leaves is counted nowhere any more, and may not ask.
    leaver = active[0]
    gone = await api.client.delete(
        f"/api/v1/groups/{gid}/members/{leaver.id}", headers=leaver.headers
    )
    assert gone.status_code in (200, 204), gone.text
    after = await every_page(api, owner, conv, target, limit=200)
    assert [(r["read_seq"], r["user_id"]) for p in after for r in p["readers"]] == [
        (late, u.id) for u in sorted(active[1:], key=lambda u: u.id)
    ]
    assert (after[0]["read_count"], after[0]["unread_count"]) == (
        len(active) - 1,
        others - 1 - (len(active) - 1),
    )
    assert_error(
        await api.client.get(readers_url(conv, target), headers=leaver.headers),
        403,
        "not_a_member",
    )
    assert time.monotonic() - started < 120, "setting up 2,000 members took too long"


async def test_in_a_single_chat_the_peer_is_listed_once_they_have_read(api: Api) -> None:
    amy = await api.register_and_login("amy")
    bob = await api.register_and_login("bob")
    eve = await api.register_and_login("eve")
    conv = conversation_id(amy.id, bob.id)
    sent = await api.send(amy, bob.id, "did you see this?")

    unread = await readers(api, amy, conv, sent["seq"])
    await api.mark_read(bob, conv, sent["seq"])
    read = await readers(api, amy, conv, sent["seq"])

    assert (unread["readers"], unread["read_count"], unread["unread_count"]) == ([], 0, 1)
    assert read["readers"] == [{"user_id": bob.id, "read_seq": sent["seq"]}]
    assert (read["read_count"], read["unread_count"], read["next_cursor"]) == (1, 0, None)
    assert await readers(api, bob, conv, sent["seq"]) == read  # either participant may ask
    assert_error(
        await api.client.get(readers_url(conv, sent["seq"]), headers=eve.headers),
        403,
        "not_a_participant",
    )


async def test_a_member_who_joined_after_a_message_is_neither_reader_nor_unread(api: Api) -> None:
    amy = await api.register_and_login("amy")
    bob = await api.register_and_login("bob")
    cat = await api.register_and_login("cat")
    group = await api.create_group(amy, "late", [bob])
    conv = f"g:{group['id']}"
    before = await api.send_group(amy, group["id"], "before cat")
    added = await api.client.post(
        f"/api/v1/groups/{group['id']}/members", json={"user_ids": [cat.id]}, headers=amy.headers
    )
    assert added.status_code in (200, 201), added.text
    after = await api.send_group(amy, group["id"], "cat is here")

    # cat never saw the first message (join-time history is the default): not counted at all.
    old = await readers(api, amy, conv, before["seq"])
    assert (old["readers"], old["read_count"], old["unread_count"]) == ([], 0, 1)
    new = await readers(api, amy, conv, after["seq"])
    assert (new["read_count"], new["unread_count"]) == (0, 2)
    await api.mark_read(cat, conv, after["seq"])
    new = await readers(api, amy, conv, after["seq"])
    assert new["readers"] == [{"user_id": cat.id, "read_seq": after["seq"]}]
    assert (new["read_count"], new["unread_count"]) == (1, 1)


async def test_bad_reader_requests_get_documented_errors(api: Api) -> None:
    amy = await api.register_and_login("amy")
    bob = await api.register_and_login("bob")
    group = await api.create_group(amy, "pair", [bob])
    conv = f"g:{group['id']}"
    sent = await api.send_group(amy, group["id"], "hello")
    c = api.client

    def get(seq: int, conv_id: str = conv, **params: int | str):  # type: ignore[no-untyped-def]
        return c.get(readers_url(conv_id, seq), params=params, headers=bob.headers)

    assert_error(await get(sent["seq"] + 1), 404, "message_not_found")
    assert_error(await get(0), 400, "invalid_field", "seq")
    assert_error(await get(sent["seq"], limit=201), 400, "invalid_field", "limit")
    assert_error(await get(sent["seq"], limit=0), 400, "invalid_field", "limit")
    assert_error(await get(sent["seq"], cursor="not-a-cursor"), 400, "invalid_field", "cursor")
    assert_error(await get(1, "x:1"), 400, "invalid_conversation_id")
    assert_error(await get(1, f"g:{group['id'] + 10_000}"), 404, "group_not_found")
    assert_error(await c.get(readers_url(conv, sent["seq"])), 401)
    assert (await get(sent["seq"], limit=200)).status_code == 200
