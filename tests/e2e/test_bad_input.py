"""Every bad request gets its status and error code, and changes nothing anyone can see."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.client import PASSWORD, Api, SyncApi, assert_error, bearer, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 65_536  # chat.max_body_bytes default
MAX_REQUEST_BYTES = 1_048_576  # server.max_request_bytes default
#: How long past ``access_expires_at`` a token may still pass (clock-skew leeway between nodes).
EXPIRY_LEEWAY_S = 15.0


@dataclass(frozen=True)
class World:
    """Three users in a group and two single chats, plus an outsider in none of them."""

    alice: dict[str, Any]
    bob: dict[str, Any]
    carol: dict[str, Any]
    outsider: dict[str, Any]
    group_id: int

    @property
    def single(self) -> str:
        return conversation_id(self.alice["user_id"], self.bob["user_id"])

    @property
    def other_single(self) -> str:
        return conversation_id(self.bob["user_id"], self.carol["user_id"])

    @property
    def group(self) -> str:
        return f"g:{self.group_id}"


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> World:
    with httpx.Client(base_url=server.base_url) as http:
        setup = SyncApi(http)
        alice, bob, carol, outsider = (
            setup.register_and_login(name) for name in ("alice", "bob", "carol", "outsider")
        )
        group_id = setup.create_group(alice, [bob, carol])
        setup.send(alice, bob["user_id"], "hi bob")
        setup.send(bob, alice["user_id"], "hi alice")
        setup.send(bob, carol["user_id"], "psst carol")
        setup.send(alice, group_id, "hello group", session_type="group")
        setup.send(carol, group_id, "hello all", session_type="group")
    return World(alice, bob, carol, outsider, group_id)


async def snapshot(client: httpx.AsyncClient, w: World) -> dict[str, Any]:
    """Everything the users can see: conversation lists and full histories."""
    requests = {
        f"{name} conversations": ("/api/v1/conversations", getattr(w, name))
        for name in ("alice", "bob", "carol", "outsider")
    }
    for reader, conv in ((w.alice, w.single), (w.alice, w.group), (w.carol, w.other_single)):
        requests[f"history {conv}"] = (f"/api/v1/conversations/{conv}/messages?limit=100", reader)
    responses = await asyncio.gather(
        *(client.get(url, headers=user["headers"]) for url, user in requests.values())
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return {name: r.json() for name, r in zip(requests, responses, strict=True)}


@dataclass(frozen=True)
class Bad:
    """One bad request: built from the world, with the status, code and field it must get."""

    method: str
    path: Callable[[World], str]
    status: int
    code: str
    field: str | None = None
    as_user: str | None = "alice"
    json: Callable[[World], Any] | None = None
    content: bytes | Callable[[World], bytes] | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def message(w: World, **changes: Any) -> dict[str, Any]:
    body = {
        "to": w.bob["user_id"],
        "session_type": "single",
        "client_msg_id": "bad-input",
        "msg_type": "text",
        "body": "should not be stored",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def login(w: World, **changes: Any) -> dict[str, Any]:
    body = {
        "username": w.alice["username"],
        "password": PASSWORD,
        "device_id": "bad-input",
        "client_type": "app",
    }
    body.update(changes)
    return body


def forged_token(w: World) -> str:
    claims = {
        "sub": str(w.alice["user_id"]),
        "did": "setup",
        "sid": 1,
        "ct": "app",
        "iat": 1,
        "exp": 4_000_000_000,
        "typ": "access",
    }
    return jwt.encode(claims, "not-the-server-secret-" * 3, algorithm="HS256")


def send(code: str, status: int = 400, field: str | None = None, **changes: Any) -> Bad:
    return Bad(
        "POST",
        lambda w: "/api/v1/messages",
        status,
        code,
        field,
        json=lambda w: message(w, **changes),
    )


def history(conv: Callable[[World], str], status: int, code: str, as_user: str | None) -> Bad:
    return Bad(
        "GET", lambda w: f"/api/v1/conversations/{conv(w)}/messages", status, code, None, as_user
    )


def mark_read(
    conv: Callable[[World], str], status: int, code: str, as_user: str, body: Any = None
) -> Bad:
    return Bad(
        "POST",
        lambda w: f"/api/v1/conversations/{conv(w)}/read",
        status,
        code,
        "seq" if code == "invalid_field" else None,
        as_user,
        json=lambda w: {"seq": 1_000} if body is None else body,
    )


REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"

CASES = {
    # accounts
    "register taken username": Bad(
        "POST",
        lambda w: REGISTER,
        409,
        "username_taken",
        as_user=None,
        json=lambda w: {"username": w.bob["username"], "password": PASSWORD},
    ),
    "register taken username in other case": Bad(
        "POST",
        lambda w: REGISTER,
        409,
        "username_taken",
        as_user=None,
        json=lambda w: {"username": w.bob["username"].upper(), "password": PASSWORD},
    ),
    "register malformed json": Bad(
        "POST", lambda w: REGISTER, 400, "malformed_json", as_user=None, content=b'{"username": '
    ),
    "register username wrong type": Bad(
        "POST",
        lambda w: REGISTER,
        400,
        "invalid_field",
        "username",
        as_user=None,
        json=lambda w: {"username": 12345, "password": PASSWORD},
    ),
    "register password too short": Bad(
        "POST",
        lambda w: REGISTER,
        400,
        "invalid_field",
        "password",
        as_user=None,
        json=lambda w: {"username": "fresh_name_1", "password": "short"},
    ),
    "register unknown field": Bad(
        "POST",
        lambda w: REGISTER,
        400,
        "invalid_field",
        "email",
        as_user=None,
        json=lambda w: {"username": "fresh_name_2", "password": PASSWORD, "email": "x@y.z"},
    ),
    "register over server.max_request_bytes": Bad(
        "POST",
        lambda w: REGISTER,
        413,
        "request_too_large",
        as_user=None,
        json=lambda w: {"username": "big", "password": "x" * (MAX_REQUEST_BYTES + 10)},
    ),
    "login wrong password": Bad(
        "POST",
        lambda w: LOGIN,
        401,
        "bad_credentials",
        as_user=None,
        json=lambda w: login(w, password=PASSWORD + "!"),
    ),
    "login malformed json": Bad(
        "POST", lambda w: LOGIN, 400, "malformed_json", as_user=None, content=b"username=alice"
    ),
    "login bad client_type": Bad(
        "POST",
        lambda w: LOGIN,
        400,
        "invalid_field",
        "client_type",
        as_user=None,
        json=lambda w: login(w, client_type="tv"),
    ),
    "login unknown field": Bad(
        "POST",
        lambda w: LOGIN,
        400,
        "invalid_field",
        "remember_me",
        as_user=None,
        json=lambda w: login(w, remember_me=True),
    ),
    "refresh garbage token": Bad(
        "POST",
        lambda w: "/api/v1/auth/refresh",
        401,
        "invalid_refresh_token",
        as_user=None,
        json=lambda w: {"refresh_token": "garbage"},
    ),
    "refresh missing field": Bad(
        "POST",
        lambda w: "/api/v1/auth/refresh",
        400,
        "invalid_field",
        "refresh_token",
        as_user=None,
        json=lambda w: {},
    ),
    # sending
    "send malformed json": Bad(
        "POST", lambda w: "/api/v1/messages", 400, "malformed_json", content=b'{"to": 1,'
    ),
    "send empty body": Bad(
        "POST", lambda w: "/api/v1/messages", 400, "malformed_json", content=b""
    ),
    "send json array": Bad(
        "POST", lambda w: "/api/v1/messages", 400, "invalid_field", content=b"[]"
    ),
    "send to as string": send("invalid_field", field="to", to="bob"),
    "send to zero": send("invalid_field", field="to", to=0),
    "send to above 2^53": send("invalid_field", field="to", to=2**53),
    "send body not a string": send("invalid_field", field="body", body=42),
    "send missing body": send("invalid_field", field="body", body=None),
    "send bad session_type": send("invalid_field", field="session_type", session_type="channel"),
    "send unknown msg_type": send("invalid_field", field="msg_type", msg_type="sticker"),
    "send empty client_msg_id": send("invalid_field", field="client_msg_id", client_msg_id=""),
    "send client_msg_id with space": send(
        "invalid_field", field="client_msg_id", client_msg_id="a b"
    ),
    "send unknown field": send("invalid_field", field="priority", priority="high"),
    "send msg_type system": send("msg_type_not_allowed", field="msg_type", msg_type="system"),
    "send body over chat.max_body_bytes": send(
        "body_too_large", 413, "body", body="x" * (MAX_BODY_BYTES + 1)
    ),
    "send body over chat.max_body_bytes in utf-8 bytes": send(
        "body_too_large", 413, "body", body="é" * (MAX_BODY_BYTES // 2 + 1)
    ),
    "send over server.max_request_bytes": send(
        "request_too_large", 413, body="x" * (MAX_REQUEST_BYTES + 1)
    ),
    "send to unknown user": send("user_not_found", 404, "to", to=9_000_000),
    "send to unknown group": send("group_not_found", 404, session_type="group", to=9_000_000),
    "send to myself": Bad(
        "POST",
        lambda w: "/api/v1/messages",
        400,
        "cannot_message_self",
        json=lambda w: message(w, to=w.alice["user_id"]),
    ),
    "send into a group I am not in": Bad(
        "POST",
        lambda w: "/api/v1/messages",
        403,
        "not_a_member",
        as_user="outsider",
        json=lambda w: message(w, to=w.group_id, session_type="group"),
    ),
    "send without token": Bad(
        "POST", lambda w: "/api/v1/messages", 401, "missing_token", as_user=None, json=message
    ),
    "send with garbage token": Bad(
        "POST",
        lambda w: "/api/v1/messages",
        401,
        "invalid_token",
        as_user=None,
        json=message,
        headers=bearer("garbage"),
    ),
    "send with basic auth": Bad(
        "POST",
        lambda w: "/api/v1/messages",
        401,
        "missing_token",
        as_user=None,
        json=message,
        headers={"Authorization": "Basic YWxpY2U6cHc="},
    ),
    # reading
    "history of another pair": history(lambda w: w.single, 403, "not_a_participant", "outsider"),
    "history of another pair by a group mate": history(
        lambda w: w.other_single, 403, "not_a_participant", "alice"
    ),
    "history of a group I am not in": history(lambda w: w.group, 403, "not_a_member", "outsider"),
    "history of unknown group": history(lambda w: "g:9000000", 404, "group_not_found", "alice"),
    "history of a malformed conversation id": history(
        lambda w: "s:9:3", 400, "invalid_conversation_id", "alice"
    ),
    "history without token": history(lambda w: w.single, 401, "missing_token", None),
    "conversations with garbage token": Bad(
        "GET",
        lambda w: "/api/v1/conversations",
        401,
        "invalid_token",
        as_user=None,
        headers=bearer("a.b.c"),
    ),
    "mark read of another pair": mark_read(
        lambda w: w.single, 403, "not_a_participant", "outsider"
    ),
    "mark read of a group I am not in": mark_read(
        lambda w: w.group, 403, "not_a_member", "outsider"
    ),
    "mark read of unknown group": mark_read(lambda w: "g:9000000", 404, "group_not_found", "alice"),
    "mark read seq as string": mark_read(
        lambda w: w.single, 400, "invalid_field", "bob", body={"seq": "2"}
    ),
    "mark read negative seq": mark_read(
        lambda w: w.single, 400, "invalid_field", "bob", body={"seq": -1}
    ),
    "mark read unknown field": Bad(
        "POST",
        lambda w: f"/api/v1/conversations/{w.single}/read",
        400,
        "invalid_field",
        "all",
        as_user="bob",
        json=lambda w: {"seq": 10, "all": True},
    ),
    "mark read malformed json": Bad(
        "POST",
        lambda w: f"/api/v1/conversations/{w.single}/read",
        400,
        "malformed_json",
        as_user="bob",
        content=b"seq=10",
    ),
    "register duplicate key": Bad(
        "POST",
        lambda w: REGISTER,
        400,
        "malformed_json",
        "username",
        as_user=None,
        content=b'{"username": "dup_a_1", "username": "dup_b_1", "password": "long enough pw"}',
    ),
    "send duplicate key": Bad(
        "POST",
        lambda w: "/api/v1/messages",
        400,
        "malformed_json",
        "to",
        content=lambda w: (
            b'{"to": %d, "to": %d, "session_type": "single", "client_msg_id": "dup-key",'
            b' "msg_type": "text", "body": "should not be stored"}'
            % (w.bob["user_id"], w.carol["user_id"])
        ),
    ),
    "send duplicate key spelled with an escape": Bad(
        "POST",
        lambda w: "/api/v1/messages",
        400,
        "malformed_json",
        "body",
        content=lambda w: (
            b'{"to": %d, "session_type": "single", "client_msg_id": "dup-key-2",'
            b' "msg_type": "text", "body": "a", "\\u0062ody": "b"}' % w.bob["user_id"]
        ),
    ),
    # routing
    "unknown endpoint": Bad("GET", lambda w: "/api/v1/nothing-here", 404, "not_found"),
    "wrong method": Bad("PUT", lambda w: "/api/v1/messages", 405, "method_not_allowed"),
    "user id out of range": Bad(
        "GET", lambda w: f"/api/v1/users/{2**53}", 400, "invalid_field", "user_id"
    ),
    **{
        f"user id {label}": Bad("GET", lambda w, p=path: p, 400, "invalid_field", "user_id")
        for label, path in {
            "in Arabic-Indic digits": "/api/v1/users/\u0661",
            "with a leading space": "/api/v1/users/%201",
            "with a plus sign": "/api/v1/users/+1",
            "with a leading zero": "/api/v1/users/01",
            "in fullwidth digits": "/api/v1/users/\uff11",
        }.items()
    },
    "group id with a leading zero": Bad(
        "GET", lambda w: f"/api/v1/groups/0{w.group_id}", 400, "invalid_field", "group_id"
    ),
    "member id with a plus sign": Bad(
        "DELETE",
        lambda w: f"/api/v1/groups/{w.group_id}/members/+{w.carol['user_id']}",
        400,
        "invalid_field",
        "user_id",
    ),
    # groups
    "create group malformed json": Bad(
        "POST", lambda w: "/api/v1/groups", 400, "malformed_json", content=b"{name}"
    ),
    "create group member id wrong type": Bad(
        "POST",
        lambda w: "/api/v1/groups",
        400,
        "invalid_field",
        "member_ids[0]",
        json=lambda w: {"name": "g", "member_ids": ["bob"]},
    ),
    "create group empty name": Bad(
        "POST",
        lambda w: "/api/v1/groups",
        400,
        "invalid_field",
        "name",
        json=lambda w: {"name": "", "member_ids": []},
    ),
    "create group with unknown user": Bad(
        "POST",
        lambda w: "/api/v1/groups",
        404,
        "user_not_found",
        json=lambda w: {"name": "g", "member_ids": [w.bob["user_id"], 9_000_000]},
    ),
    "add members as plain member": Bad(
        "POST",
        lambda w: f"/api/v1/groups/{w.group_id}/members",
        403,
        "not_an_admin",
        as_user="bob",
        json=lambda w: {"user_ids": [w.outsider["user_id"]]},
    ),
    "add members as outsider": Bad(
        "POST",
        lambda w: f"/api/v1/groups/{w.group_id}/members",
        403,
        "not_a_member",
        as_user="outsider",
        json=lambda w: {"user_ids": [w.outsider["user_id"]]},
    ),
    "add no members": Bad(
        "POST",
        lambda w: f"/api/v1/groups/{w.group_id}/members",
        400,
        "invalid_field",
        "user_ids",
        json=lambda w: {"user_ids": []},
    ),
    "remove a member as plain member": Bad(
        "DELETE",
        lambda w: f"/api/v1/groups/{w.group_id}/members/{w.carol['user_id']}",
        403,
        "not_an_admin",
        as_user="bob",
    ),
    "owner leaves": Bad(
        "DELETE",
        lambda w: f"/api/v1/groups/{w.group_id}/members/{w.alice['user_id']}",
        409,
        "owner_cannot_leave",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_request_is_refused_and_changes_nothing(
    api: Api, server: ServerProcess, world: World, case: Bad
) -> None:
    before = await snapshot(api.client, world)
    headers = dict(case.headers)
    if case.as_user is not None:
        headers.update(getattr(world, case.as_user)["headers"])
    kwargs: dict[str, Any] = {"headers": headers}
    if case.json is not None:
        kwargs["content"] = json.dumps(case.json(world)).encode()
        headers["Content-Type"] = "application/json"
    elif case.content is not None:
        kwargs["content"] = case.content(world) if callable(case.content) else case.content
        headers["Content-Type"] = "application/json"

    response = await api.client.request(case.method, case.path(world), **kwargs)

    assert_error(response, case.status, case.code, case.field)
    assert await snapshot(api.client, world) == before
    assert server.error_lines() == [], "the server logged an error for a client mistake"


async def test_forged_token_is_401_and_changes_nothing(api: Api, world: World) -> None:
    before = await snapshot(api.client, world)
    response = await api.client.post(
        "/api/v1/messages", json=message(world), headers=bearer(forged_token(world))
    )
    assert_error(response, 401, "invalid_token")
    assert await snapshot(api.client, world) == before


async def test_expired_access_token_is_401_until_refreshed(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(start_server(GOMICROIM__IDENTITY__ACCESS_TTL_S="1"))
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    await api.send(alice, bob.id, "before expiry")
    conv = conversation_id(alice.id, bob.id)

    # The server may allow a little clock-skew leeway past access_expires_at; not more.
    deadline = alice.tokens["access_expires_at"] / 1000 + EXPIRY_LEEWAY_S
    while True:
        expired = await api.client.get("/api/v1/conversations", headers=alice.headers)
        if expired.status_code != 200 or time.time() > deadline:
            break
        await asyncio.sleep(0.25)
    assert_error(expired, 401, "token_expired")
    assert_error(await api.send_raw(alice, bob.id, "after expiry"), 401, "token_expired")

    refreshed = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token}
    )
    assert refreshed.status_code == 200, refreshed.text
    alice.access_token = refreshed.json()["access_token"]
    assert [m["body"] for m in await api.history(alice, conv)] == ["before expiry"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/messages", {"POST"}),
        ("DELETE", "/api/v1/auth/login", {"POST"}),
        ("POST", "/api/v1/conversations", {"GET"}),
        ("PATCH", "/healthz", {"GET"}),
    ],
)
async def test_wrong_method_is_405_naming_the_allowed_methods(
    api: Api, world: World, method: str, path: str, allowed: set[str]
) -> None:
    response = await api.client.request(method, path, headers=world.alice["headers"])

    assert_error(response, 405, "method_not_allowed")
    named = {m.strip() for m in response.headers["Allow"].split(",")}
    # OPTIONS is answered on every path, so it is allowed too.
    assert named == allowed | {"OPTIONS"}
