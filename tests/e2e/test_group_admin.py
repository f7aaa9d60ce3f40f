"""Running a group: roles, ownership transfer and dissolving, over a real server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.client import Api, User, assert_error
from tests.e2e.conftest import StartServer
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


async def roles_of(api: Api, user: User, group_id: int) -> dict[int, str]:
    response = await api.client.get(f"/api/v1/groups/{group_id}/members", headers=user.headers)
    assert response.status_code == 200, response.text
    return {m["user_id"]: m["role"] for m in response.json()["members"]}


async def set_role(api: Api, by: User, group_id: int, user_id: int, role: str) -> httpx.Response:
    return await api.client.put(
        f"/api/v1/groups/{group_id}/members/{user_id}/role", json={"role": role}, headers=by.headers
    )


async def test_the_owner_makes_an_admin_who_then_adds_and_removes_members(api: Api) -> None:
    owner, ann, ben, cat = [await api.register_and_login(n) for n in ("own", "ann", "ben", "cat")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    members_url = f"/api/v1/groups/{gid}/members"

    promoted = await set_role(api, owner, gid, ann.id, "admin")
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"

    added = await api.client.post(members_url, json={"user_ids": [cat.id]}, headers=ann.headers)
    assert added.status_code == 200, added.text
    removed = await api.client.delete(f"{members_url}/{ben.id}", headers=ann.headers)
    assert removed.status_code == 204, removed.text
    assert await roles_of(api, owner, gid) == {owner.id: "owner", ann.id: "admin", cat.id: "member"}

    demoted = await set_role(api, owner, gid, ann.id, "member")
    assert demoted.status_code == 200
    again = await api.client.post(members_url, json={"user_ids": [ben.id]}, headers=ann.headers)
    assert_error(again, 403, "not_an_admin")


async def test_role_changes_are_the_owners_alone(api: Api) -> None:
    owner, ann, ben, out = [await api.register_and_login(n) for n in ("own", "ann", "ben", "out")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    assert (await set_role(api, owner, gid, ann.id, "admin")).status_code == 200

    assert_error(await set_role(api, ann, gid, ben.id, "admin"), 403, "not_the_owner")
    assert_error(await set_role(api, ben, gid, ben.id, "admin"), 403, "not_the_owner")
    assert_error(await set_role(api, out, gid, ben.id, "admin"), 403, "not_a_member")
    assert_error(await set_role(api, owner, gid, out.id, "admin"), 404, "member_not_found")
    assert_error(
        await set_role(api, owner, gid, owner.id, "member"),
        409,
        "cannot_change_owner_role",
    )
    bad = await set_role(api, owner, gid, ben.id, "owner")
    assert bad.status_code == 400
    missing = await set_role(api, owner, gid + 10_000, ben.id, "admin")
    assert_error(missing, 404, "group_not_found")
    # An admin may not remove another admin or the owner.
    await set_role(api, owner, gid, ben.id, "admin")
    url = f"/api/v1/groups/{gid}/members"
    assert_error(
        await api.client.delete(f"{url}/{ben.id}", headers=ann.headers), 403, "not_an_admin"
    )
    assert_error(
        await api.client.delete(f"{url}/{owner.id}", headers=ann.headers),
        409,
        "owner_cannot_leave",
    )
    assert await roles_of(api, owner, gid) == {owner.id: "owner", ann.id: "admin", ben.id: "admin"}


async def test_the_owner_leaves_only_after_a_transfer(api: Api) -> None:
    owner, ann, ben, out = [await api.register_and_login(n) for n in ("own", "ann", "ben", "out")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    leave_url = f"/api/v1/groups/{gid}/members/{owner.id}"
    transfer_url = f"/api/v1/groups/{gid}/transfer"

    refused = await api.client.delete(leave_url, headers=owner.headers)
    assert "transfer" in assert_error(refused, 409, "owner_cannot_leave")["message"]

    for by, to, status, code in [
        (ann, ben.id, 403, "not_the_owner"),
        (out, ann.id, 403, "not_a_member"),
        (owner, out.id, 404, "member_not_found"),
        (owner, owner.id, 409, "already_owner"),
    ]:
        denied = await api.client.post(transfer_url, json={"user_id": to}, headers=by.headers)
        assert_error(denied, status, code)
    assert (await api.client.get(f"/api/v1/groups/{gid}", headers=ann.headers)).json()[
        "owner_id"
    ] == owner.id

    moved = await api.client.post(transfer_url, json={"user_id": ann.id}, headers=owner.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner_id"] == ann.id
    assert await roles_of(api, ben, gid) == {owner.id: "admin", ann.id: "owner", ben.id: "member"}

    left = await api.client.delete(leave_url, headers=owner.headers)
    assert left.status_code == 204, left.text
    assert await roles_of(api, ann, gid) == {ann.id: "owner", ben.id: "member"}


async def test_dissolving_keeps_history_readable_and_stops_sends(api: Api) -> None:
    owner, ann, out = [await api.register_and_login(n) for n in ("own", "ann", "out")]
    gid = (await api.create_group(owner, "g", [ann]))["id"]
    conv = f"g:{gid}"
    await api.send_group(ann, gid, "before")
    await api.send_group(owner, gid, "also before")

    assert_error(
        await api.client.delete(f"/api/v1/groups/{gid}", headers=ann.headers), 403, "not_the_owner"
    )
    assert_error(
        await api.client.delete(f"/api/v1/groups/{gid}", headers=out.headers), 403, "not_a_member"
    )
    assert_error(
        await api.client.delete(f"/api/v1/groups/{gid + 10_000}", headers=owner.headers),
        404,
        "group_not_found",
    )

    dissolved = await api.client.delete(f"/api/v1/groups/{gid}", headers=owner.headers)
    assert dissolved.status_code == 200, dissolved.text
    assert dissolved.json()["dissolved"] is True

    for member in (owner, ann):
        got = await api.client.get(f"/api/v1/groups/{gid}", headers=member.headers)
        assert got.json()["dissolved"] is True
        history = await api.history(member, conv)
        texts = [m["body"] for m in history if m["msg_type"] != "system"]
        assert texts == ["before", "also before"]
        assert json.loads(history[-1]["body"]) == {"event": "group_dissolved", "actor": owner.id}
        assert_error(
            await api.send_raw(member, gid, "after", session_type="group"), 403, "group_dissolved"
        )
    texts = [m["body"] for m in await api.history(ann, conv) if m["msg_type"] == "text"]
    assert texts == ["before", "also before"]
    add = await api.client.post(
        f"/api/v1/groups/{gid}/members", json={"user_ids": [out.id]}, headers=owner.headers
    )
    assert_error(add, 403, "group_dissolved")
    # Dissolving again changes nothing.
    again = await api.client.delete(f"/api/v1/groups/{gid}", headers=owner.headers)
    assert again.status_code == 200
    assert again.json()["dissolved"] is True


async def test_owner_and_admins_rename_and_set_the_notice(api: Api) -> None:
    owner, ann, ben, out = [await api.register_and_login(n) for n in ("own", "ann", "ben", "out")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    url = f"/api/v1/groups/{gid}"
    await set_role(api, owner, gid, ann.id, "admin")

    renamed = await api.client.patch(url, json={"name": "Team 🚀"}, headers=ann.headers)
    assert renamed.status_code == 200, renamed.text
    noticed = await api.client.patch(
        url, json={"notice": "Be kind.\nNo spam."}, headers=owner.headers
    )
    assert noticed.status_code == 200, noticed.text
    seen = (await api.client.get(url, headers=ben.headers)).json()
    assert (seen["name"], seen["notice"]) == ("Team 🚀", "Be kind.\nNo spam.")

    assert_error(
        await api.client.patch(url, json={"name": "x"}, headers=ben.headers), 403, "not_an_admin"
    )
    assert_error(
        await api.client.patch(url, json={"name": "x"}, headers=out.headers), 403, "not_a_member"
    )
    too_long = await api.client.patch(url, json={"notice": "n" * 2001}, headers=owner.headers)
    assert_error(too_long, 400, "invalid_field", field="notice")
    bad_name = await api.client.patch(url, json={"name": "a\u202eb"}, headers=owner.headers)
    assert_error(bad_name, 400, field="name")
    unknown = await api.client.patch(url, json={"topic": "x"}, headers=owner.headers)
    assert unknown.status_code == 400
    assert (await api.client.get(url, headers=ben.headers)).json() == seen
    await api.client.delete(url, headers=owner.headers)
    dissolved = await api.client.patch(url, json={"name": "y"}, headers=owner.headers)
    assert_error(dissolved, 403, "group_dissolved")


async def test_a_muted_member_sends_nothing_until_unmuted(api: Api) -> None:
    owner, ann, ben = [await api.register_and_login(n) for n in ("own", "ann", "ben")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    await set_role(api, owner, gid, ann.id, "admin")
    await api.send_group(ben, gid, "before")
    mute_url = f"/api/v1/groups/{gid}/members/{ben.id}/mute"
    until = int(time.time() * 1000) + 3_600_000

    muted = await api.client.post(mute_url, json={"until": until}, headers=ann.headers)
    assert muted.status_code == 200, muted.text
    assert muted.json()["muted_until"] == until

    refused = await api.send_raw(ben, gid, "while muted", session_type="group")
    assert_error(refused, 403, "member_muted")
    await api.send_group(ann, gid, "admins still talk")
    assert [m["body"] for m in await api.history(owner, f"g:{gid}") if m["msg_type"] == "text"] == [
        "before",
        "admins still talk",
    ]
    listed = await api.client.get(f"/api/v1/groups/{gid}/members", headers=ben.headers)
    assert {m["user_id"]: m["muted_until"] for m in listed.json()["members"]}[ben.id] == until

    unmuted = await api.client.delete(mute_url, headers=owner.headers)
    assert unmuted.status_code == 200, unmuted.text
    assert unmuted.json()["muted_until"] == 0
    await api.send_group(ben, gid, "free again")


async def test_who_may_mute_whom_over_http(api: Api) -> None:
    owner, ann, ben, out = [await api.register_and_login(n) for n in ("own", "ann", "ben", "out")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    await set_role(api, owner, gid, ann.id, "admin")
    until = int(time.time() * 1000) + 60_000

    async def mute(by: User, target: int, when: int = until) -> httpx.Response:
        return await api.client.post(
            f"/api/v1/groups/{gid}/members/{target}/mute", json={"until": when}, headers=by.headers
        )

    assert_error(await mute(ben, ann.id), 403, "not_an_admin")
    assert_error(await mute(ben, ben.id), 403, "not_an_admin")
    assert_error(await mute(out, ben.id), 403, "not_a_member")
    assert_error(await mute(ann, owner.id), 409, "cannot_mute_owner")
    assert_error(await mute(owner, out.id), 404, "member_not_found")
    assert_error(await mute(owner, ben.id, 1), 400, "invalid_field", field="until")
    unmute = await api.client.delete(
        f"/api/v1/groups/{gid}/members/{ann.id}/mute", headers=ben.headers
    )
    assert_error(unmute, 403, "not_an_admin")
    # Nobody got muted: everyone still sends.
    for member in (owner, ann, ben):
        await api.send_group(member, gid, f"from {member.id}")


async def test_mute_all_lets_only_the_owner_and_admins_send(api: Api) -> None:
    owner, ann, ben, out = [await api.register_and_login(n) for n in ("own", "ann", "ben", "out")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    await set_role(api, owner, gid, ann.id, "admin")
    url = f"/api/v1/groups/{gid}"
    await api.send_group(ben, gid, "before")

    assert_error(
        await api.client.patch(url, json={"muted": True}, headers=ben.headers), 403, "not_an_admin"
    )
    assert_error(
        await api.client.patch(url, json={"muted": True}, headers=out.headers), 403, "not_a_member"
    )
    muted = await api.client.patch(url, json={"muted": True}, headers=ann.headers)
    assert muted.status_code == 200, muted.text
    assert muted.json()["muted"] is True
    seen = await api.client.get(url, headers=ben.headers)
    assert seen.json()["muted"] is True

    assert_error(
        await api.send_raw(ben, gid, "while muted", session_type="group"), 403, "group_muted"
    )
    await api.send_group(ann, gid, "admin talks")
    await api.send_group(owner, gid, "owner talks")
    assert [m["body"] for m in await api.history(owner, f"g:{gid}") if m["msg_type"] == "text"] == [
        "before",
        "admin talks",
        "owner talks",
    ]
    # A member promoted while mute-all is on may send at once; demoted, not any more.
    await set_role(api, owner, gid, ben.id, "admin")
    await api.send_group(ben, gid, "promoted")
    await set_role(api, owner, gid, ben.id, "member")
    assert_error(await api.send_raw(ben, gid, "demoted", session_type="group"), 403, "group_muted")

    unmuted = await api.client.patch(url, json={"muted": False}, headers=owner.headers)
    assert unmuted.json()["muted"] is False
    await api.send_group(ben, gid, "free again")
    history = await api.history(ben, f"g:{gid}")
    assert [m["body"] for m in history if m["msg_type"] == "text"][-2:] == [
        "promoted",
        "free again",
    ]


async def test_owner_and_admins_set_and_clear_the_avatar_url(api: Api) -> None:
    owner, ann, ben = [await api.register_and_login(n) for n in ("own", "ann", "ben")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]
    await set_role(api, owner, gid, ann.id, "admin")
    url = f"/api/v1/groups/{gid}"
    avatar = "https://img.example/groups/1.png?size=64"

    pictured = await api.client.patch(url, json={"avatar_url": avatar}, headers=ann.headers)
    assert pictured.status_code == 200, pictured.text
    assert (pictured.json()["avatar_url"], pictured.json()["name"]) == (avatar, "g")
    assert (await api.client.get(url, headers=ben.headers)).json()["avatar_url"] == avatar
    assert_error(
        await api.client.patch(url, json={"avatar_url": avatar}, headers=ben.headers),
        403,
        "not_an_admin",
    )
    for bad in ("ftp://img.example/a.png", "javascript:alert(1)", "https://a b", "x" * 10):
        refused = await api.client.patch(url, json={"avatar_url": bad}, headers=owner.headers)
        assert refused.status_code == 400, (bad, refused.text)
    too_long = "https://img.example/" + "a" * 2048
    assert (
        await api.client.patch(url, json={"avatar_url": too_long}, headers=owner.headers)
    ).status_code == 400
    cleared = await api.client.patch(url, json={"avatar_url": ""}, headers=owner.headers)
    assert cleared.json()["avatar_url"] == ""
    assert (await api.client.get(url, headers=ben.headers)).json()["avatar_url"] == ""


async def walk_members(api: Api, user: User, group_id: int, limit: int) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = await api.client.get(
            f"/api/v1/groups/{group_id}/members", params=params, headers=user.headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["members"]) <= limit
        seen += [m["user_id"] for m in body["members"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_member_pages_walk_every_member_once_in_join_order(api: Api) -> None:
    owner, *others = [await api.register_and_login(n) for n in ("own", "a", "b", "c", "d", "e")]
    gid = (await api.create_group(owner, "g", others[:3]))["id"]
    added = await api.client.post(
        f"/api/v1/groups/{gid}/members",
        json={"user_ids": [u.id for u in others[3:]]},
        headers=owner.headers,
    )
    assert added.status_code == 200, added.text
    everyone = [owner.id, *sorted(u.id for u in others[:3]), *sorted(u.id for u in others[3:])]

    for limit in (1, 2, 4, 6, 7):
        assert await walk_members(api, others[0], gid, limit) == everyone
    # Without a limit a small group answers whole, as before paging existed.
    whole = await api.client.get(f"/api/v1/groups/{gid}/members", headers=owner.headers)
    assert [m["user_id"] for m in whole.json()["members"]] == everyone
    assert whole.json()["next_cursor"] is None

    url = f"/api/v1/groups/{gid}/members"
    bad = await api.client.get(url, params={"cursor": "x1"}, headers=owner.headers)
    assert_error(bad, 400, "invalid_field", field="cursor")
    assert (
        await api.client.get(url, params={"limit": 2001}, headers=owner.headers)
    ).status_code == 400
    assert (
        await api.client.get(url, params={"limit": 0}, headers=owner.headers)
    ).status_code == 400
    outsider = await api.register_and_login("out")
    assert_error(
        await api.client.get(url, params={"limit": 1}, headers=outsider.headers),
        403,
        "not_a_member",
    )


@pytest.fixture
def small_pages(start_server: StartServer) -> ServerProcess:
    return start_server(GOMICROIM__GROUPS__MEMBERS_PAGE_LIMIT="2")


async def test_groups_members_page_limit_bounds_the_default_page(
    small_pages: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(small_pages)
    owner, ann, ben = [await api.register_and_login(n) for n in ("own", "ann", "ben")]
    gid = (await api.create_group(owner, "g", [ann, ben]))["id"]

    first = await api.client.get(f"/api/v1/groups/{gid}/members", headers=ann.headers)
    assert [m["user_id"] for m in first.json()["members"]] == [owner.id, *sorted((ann.id, ben.id))][
        :2
    ]
    rest = await api.client.get(
        f"/api/v1/groups/{gid}/members",
        params={"cursor": first.json()["next_cursor"]},
        headers=ann.headers,
    )
    assert [m["user_id"] for m in rest.json()["members"]] == [max(ann.id, ben.id)]
    assert rest.json()["next_cursor"] is None


async def test_the_conversation_list_shows_a_dissolved_group_as_dissolved(api: Api) -> None:
    owner, ann = [await api.register_and_login(n) for n in ("own", "ann")]
    gone = (await api.create_group(owner, "gone", [ann]))["id"]
    kept = (await api.create_group(owner, "kept", [ann]))["id"]
    await api.send_group(ann, gone, "before")
    await api.send_group(ann, kept, "still here")
    await api.send(owner, ann.id, "direct")
    before = await api.conversation(ann, f"g:{gone}")
    assert before is not None
    assert before["dissolved"] is False

    dissolved = await api.client.delete(f"/api/v1/groups/{gone}", headers=owner.headers)
    assert dissolved.status_code == 200, dissolved.text

    for member in (owner, ann):
        listing = (await api.conversations(member))["conversations"]
        by_id = {c["conversation_id"]: c for c in listing}
        assert by_id[f"g:{gone}"]["dissolved"] is True
        # The dissolution is the group's last message (a system message).
        last = by_id[f"g:{gone}"]["last_message"]
        assert json.loads(last["body"]) == {"event": "group_dissolved", "actor": owner.id}
        assert by_id[f"g:{kept}"]["dissolved"] is False
        singles = [c for c in listing if c["session_type"] == "single"]
        assert [c["dissolved"] for c in singles] == [False]
    # Paged one entry at a time, the flag rides on the right page.
    seen: dict[str, bool] = {}
    params: dict[str, int | str] = {"limit": 1}
    while True:
        page = await api.conversations(ann, **params)
        seen.update({c["conversation_id"]: c["dissolved"] for c in page["conversations"]})
        if page["next_before"] is None:
            break
        params = {"limit": 1, "before": page["next_before"]}
    assert seen[f"g:{gone}"] is True
    assert seen[f"g:{kept}"] is False


@pytest.fixture
def short_avatars(start_server: StartServer) -> ServerProcess:
    return start_server(GOMICROIM__GROUPS__MAX_AVATAR_URL_CHARS="40")


async def test_groups_max_avatar_url_chars_bounds_the_avatar_url(
    short_avatars: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(short_avatars)
    owner = await api.register_and_login("own")
    gid = (await api.create_group(owner, "g", []))["id"]
    url = f"/api/v1/groups/{gid}"
    fits = "https://img.example/" + "a" * 20
    assert len(fits) == 40

    assert (await api.client.patch(url, json={"avatar_url": fits}, headers=owner.headers)).json()[
        "avatar_url"
    ] == fits
    over = await api.client.patch(url, json={"avatar_url": fits + "b"}, headers=owner.headers)
    assert_error(over, 400, "invalid_field", field="avatar_url")
    assert (await api.client.get(url, headers=owner.headers)).json()["avatar_url"] == fits
