"""Finding people and one's groups: user lookup by username, "my groups", the peer's read seq."""

from __future__ import annotations

import pytest

from tests.e2e.client import Api, assert_error, conversation_id, unique_name

pytestmark = pytest.mark.e2e


async def test_a_user_is_found_by_exact_username_in_any_case(api: Api) -> None:
    me = await api.register_and_login("finder")
    name = unique_name("Carol")
    carol = await api.register(name, nickname="Carol C")

    for spelled in (name, name.upper(), name.lower()):
        response = await api.client.get(
            "/api/v1/users", params={"username": spelled}, headers=me.headers
        )
        assert response.status_code == 200, response.text
        assert response.json() == carol


async def test_user_lookup_never_matches_a_prefix_or_pattern(api: Api) -> None:
    me = await api.register_and_login("finder")
    name = unique_name("dave")
    await api.register(name)

    for partial in (name[:-1], name[1:], f"{name}x", "dave", "d.v.", "___"):
        response = await api.client.get(
            "/api/v1/users", params={"username": partial}, headers=me.headers
        )
        assert_error(response, 404, "user_not_found")


async def test_user_lookup_refuses_what_cannot_be_a_username(api: Api) -> None:
    me = await api.register_and_login("finder")

    for bad in ("ab", "x" * 33, "da%ve", "da ve", "dave*", ""):
        response = await api.client.get(
            "/api/v1/users", params={"username": bad}, headers=me.headers
        )
        assert_error(response, 400, "invalid_field", "username")
    assert_error(await api.client.get("/api/v1/users", headers=me.headers), 400)


async def test_user_lookup_needs_a_token(api: Api) -> None:
    response = await api.client.get("/api/v1/users", params={"username": "alice"})

    assert_error(response, 401, "missing_token")


async def test_my_groups_lists_every_group_of_the_caller_once_in_pages(api: Api) -> None:
    me = await api.register_and_login("member")
    other = await api.register_and_login("other")
    owned = [(await api.create_group(me, f"mine {i}", []))["id"] for i in range(3)]
    joined = (await api.create_group(other, "theirs", [me]))["id"]
    await api.create_group(other, "not mine", [])

    seen: list[dict[str, object]] = []
    params: dict[str, object] = {"limit": 2}
    for _ in range(5):
        response = await api.client.get("/api/v1/groups", params=params, headers=me.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["groups"]
        if page["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}

    assert [g["id"] for g in seen] == [*owned, joined]
    assert seen[-1] == {
        "id": joined,
        "name": "theirs",
        "owner_id": other.id,
        "member_count": 2,
        "created_at": seen[-1]["created_at"],
        "dissolved": False,
        "notice": "",
        "muted": False,
        "avatar_url": "",
    }


async def test_a_group_left_drops_out_of_my_groups(api: Api) -> None:
    owner = await api.register_and_login("owner")
    me = await api.register_and_login("leaver")
    group = await api.create_group(owner, "g", [me])

    response = await api.client.delete(
        f"/api/v1/groups/{group['id']}/members/{me.id}", headers=me.headers
    )
    assert response.status_code == 204, response.text

    response = await api.client.get("/api/v1/groups", headers=me.headers)
    assert response.json() == {"groups": [], "next_cursor": None}


async def test_my_groups_refuses_bad_paging(api: Api) -> None:
    me = await api.register_and_login("pager")

    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "nope"}, "cursor"),
        ({"cursor": "-5"}, "cursor"),
    ):
        response = await api.client.get("/api/v1/groups", params=params, headers=me.headers)
        assert_error(response, 400, "invalid_field", field)


async def test_the_conversation_list_shows_how_far_the_peer_has_read(api: Api) -> None:
    alice = await api.register_and_login("alice", client_type="web")
    bob = await api.register_and_login("bob", client_type="web")
    for i in range(3):
        await api.send(alice, bob.id, f"m{i}")
    conv = conversation_id(alice.id, bob.id)

    assert (await api.conversation(alice, conv) or {})["peer_read_seq"] == 0
    response = await api.client.post(
        f"/api/v1/conversations/{conv}/read", json={"seq": 2}, headers=bob.headers
    )
    assert response.status_code == 200, response.text

    mine = await api.conversation(alice, conv) or {}
    theirs = await api.conversation(bob, conv) or {}
    assert (mine["read_seq"], mine["peer_read_seq"]) == (3, 2)
    assert (theirs["read_seq"], theirs["peer_read_seq"]) == (2, 3)


async def test_a_group_conversation_has_no_peer_read_seq(api: Api) -> None:
    owner = await api.register_and_login("owner")
    member = await api.register_and_login("member")
    group = await api.create_group(owner, "g", [member])
    await api.send_group(owner, group["id"], "hi")

    entry = await api.conversation(member, f"g:{group['id']}") or {}

    assert entry["peer_read_seq"] is None
