"""Groups and membership: who may see, add, remove and leave; the member limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from tests.e2e.client import Api, User, assert_error
from tests.e2e.conftest import StartServer
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


async def members_of(api: Api, user: User, group_id: int) -> dict[int, str]:
    response = await api.client.get(f"/api/v1/groups/{group_id}/members", headers=user.headers)
    assert response.status_code == 200, response.text
    return {m["user_id"]: m["role"] for m in response.json()["members"]}


async def test_create_get_and_list_members(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    outsider = await api.register_and_login("outsider")

    # The owner need not list themselves; listing them, or a member twice, changes nothing.
    response = await api.client.post(
        "/api/v1/groups",
        json={"name": "Team", "member_ids": [ann.id, ben.id, ann.id, owner.id]},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    group = response.json()
    assert group["name"] == "Team"
    assert group["owner_id"] == owner.id
    assert group["member_count"] == 3
    assert 1 <= group["id"] < 2**53

    for member in (owner, ann, ben):
        got = await api.client.get(f"/api/v1/groups/{group['id']}", headers=member.headers)
        assert got.status_code == 200
        assert got.json() == group
        assert await members_of(api, member, group["id"]) == {
            owner.id: "owner",
            ann.id: "member",
            ben.id: "member",
        }

    denied = await api.client.get(f"/api/v1/groups/{group['id']}", headers=outsider.headers)
    assert_error(denied, 403, "not_a_member")
    denied = await api.client.get(f"/api/v1/groups/{group['id']}/members", headers=outsider.headers)
    assert_error(denied, 403, "not_a_member")
    missing = await api.client.get(f"/api/v1/groups/{group['id'] + 10_000}", headers=owner.headers)
    assert_error(missing, 404, "group_not_found")


async def test_only_the_owner_adds_members(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    cat = await api.register_and_login("cat")
    group = await api.create_group(owner, "g", [ann])
    url = f"/api/v1/groups/{group['id']}/members"

    by_member = await api.client.post(url, json={"user_ids": [ben.id]}, headers=ann.headers)
    assert_error(by_member, 403, "not_an_admin")
    by_outsider = await api.client.post(url, json={"user_ids": [ben.id]}, headers=cat.headers)
    assert_error(by_outsider, 403, "not_a_member")
    unknown = await api.client.post(
        url, json={"user_ids": [ben.id, cat.id + 10_000]}, headers=owner.headers
    )
    assert_error(unknown, 404, "user_not_found")
    assert await members_of(api, owner, group["id"]) == {owner.id: "owner", ann.id: "member"}

    added = await api.client.post(url, json={"user_ids": [ben.id, ann.id]}, headers=owner.headers)
    assert added.status_code == 200, added.text
    assert {m["user_id"]: m["role"] for m in added.json()["members"]} == {
        owner.id: "owner",
        ann.id: "member",
        ben.id: "member",
    }
    got = await api.client.get(f"/api/v1/groups/{group['id']}", headers=ben.headers)
    assert got.status_code == 200
    assert got.json()["member_count"] == 3


async def test_remove_a_member_leave_and_owner_cannot_leave(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    cat = await api.register_and_login("cat")
    group = await api.create_group(owner, "g", [ann, ben, cat])
    gid = group["id"]

    # A plain member may not remove others, nor the owner.
    by_member = await api.client.delete(
        f"/api/v1/groups/{gid}/members/{ben.id}", headers=ann.headers
    )
    assert_error(by_member, 403, "not_an_admin")

    removed = await api.client.delete(
        f"/api/v1/groups/{gid}/members/{ben.id}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert_error(
        await api.client.get(f"/api/v1/groups/{gid}", headers=ben.headers), 403, "not_a_member"
    )
    again = await api.client.delete(f"/api/v1/groups/{gid}/members/{ben.id}", headers=owner.headers)
    assert_error(again, 404, "member_not_found")

    left = await api.client.delete(f"/api/v1/groups/{gid}/members/{cat.id}", headers=cat.headers)
    assert left.status_code == 204
    assert_error(
        await api.client.get(f"/api/v1/groups/{gid}/members", headers=cat.headers),
        403,
        "not_a_member",
    )

    owner_leaves = await api.client.delete(
        f"/api/v1/groups/{gid}/members/{owner.id}", headers=owner.headers
    )
    assert_error(owner_leaves, 409, "owner_cannot_leave")

    assert await members_of(api, ann, gid) == {owner.id: "owner", ann.id: "member"}
    got = await api.client.get(f"/api/v1/groups/{gid}", headers=owner.headers)
    assert got.json()["member_count"] == 2


async def test_removed_member_can_no_longer_post_or_read(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann")
    group = await api.create_group(owner, "g", [ann])
    gid = group["id"]
    await api.send_group(ann, gid, "before removal")

    removed = await api.client.delete(
        f"/api/v1/groups/{gid}/members/{ann.id}", headers=owner.headers
    )
    assert removed.status_code == 204

    assert_error(await api.send_raw(ann, gid, session_type="group"), 403, "not_a_member")
    history = await api.client.get(f"/api/v1/conversations/g:{gid}/messages", headers=ann.headers)
    assert_error(history, 403, "not_a_member")
    history = await api.history(owner, f"g:{gid}")
    assert [m["body"] for m in history if m["msg_type"] != "system"] == ["before removal"]
    assert history[-1]["msg_type"] == "system"
    assert json.loads(history[-1]["body"])["event"] == "member_removed"


@pytest.fixture
def small_groups(start_server: StartServer) -> ServerProcess:
    return start_server(GOMICROIM__GROUPS__MAX_MEMBERS="3", GOMICROIM__GROUPS__MAX_NAME_CHARS="8")


async def test_groups_max_members_is_enforced(
    small_groups: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(small_groups)
    owner, ann, ben, cat, dan = [await api.register_and_login(n) for n in "oabcd"]

    too_big = await api.client.post(
        "/api/v1/groups",
        json={"name": "big", "member_ids": [ann.id, ben.id, cat.id]},
        headers=owner.headers,
    )
    assert_error(too_big, 409, "group_full")

    group = await api.create_group(owner, "full", [ann, ben])
    assert group["member_count"] == 3
    url = f"/api/v1/groups/{group['id']}/members"

    over = await api.client.post(url, json={"user_ids": [cat.id]}, headers=owner.headers)
    assert_error(over, 409, "group_full")
    over = await api.client.post(url, json={"user_ids": [cat.id, dan.id]}, headers=owner.headers)
    assert_error(over, 409, "group_full")
    assert await members_of(api, owner, group["id"]) == {
        owner.id: "owner",
        ann.id: "member",
        ben.id: "member",
    }
    # Re-adding present members is not growth.
    same = await api.client.post(url, json={"user_ids": [ann.id]}, headers=owner.headers)
    assert same.status_code == 200

    # Concurrent adds cannot overshoot the limit either.
    left = await api.client.delete(f"{url}/{ben.id}", headers=ben.headers)
    assert left.status_code == 204
    racing = await asyncio.gather(
        *(
            api.client.post(url, json={"user_ids": [u.id]}, headers=owner.headers)
            for u in (ben, cat, dan)
        )
    )
    assert sorted(r.status_code for r in racing) == [200, 409, 409]
    got = await api.client.get(f"/api/v1/groups/{group['id']}", headers=owner.headers)
    assert got.json()["member_count"] == 3
    assert len(await members_of(api, owner, group["id"])) == 3

    winner = next(u for u, r in zip((ben, cat, dan), racing, strict=True) if r.status_code == 200)
    left = await api.client.delete(f"{url}/{winner.id}", headers=winner.headers)
    assert left.status_code == 204
    added = await api.client.post(url, json={"user_ids": [ben.id]}, headers=owner.headers)
    assert added.status_code == 200, added.text
    assert len(added.json()["members"]) == 3


async def test_groups_max_name_chars_is_enforced(
    small_groups: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(small_groups)
    owner = await api.register_and_login("owner")
    fits = await api.client.post(
        "/api/v1/groups", json={"name": "8 chars!", "member_ids": []}, headers=owner.headers
    )
    assert fits.status_code == 201, fits.text
    too_long = await api.client.post(
        "/api/v1/groups", json={"name": "nine char", "member_ids": []}, headers=owner.headers
    )
    assert_error(too_long, 400, field="name")
