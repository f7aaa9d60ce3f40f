"""The served OpenAPI document against the real server: it describes what really happens.

A recording client runs the end-to-end flows (accounts, groups, messages, history, read, sync,
logout, the push socket's plain GET) plus one request for each documented error. Every
response must belong to a documented operation, carry a documented status and validate
against the schema documented for it; every documented operation must be reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis

from tests.e2e.client import Api, conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

MAX_REQUEST_BYTES = 1_048_576


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture
async def recorded(server: ServerProcess) -> AsyncIterator[tuple[Api, list[httpx.Response]]]:
    responses: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        responses.append(response)

    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=30, event_hooks={"response": [keep]}
    ) as client:
        yield Api(client), responses


def operation_of(document: dict[str, Any], method: str, path: str) -> str | None:
    """The documented path template that ``path`` matches for ``method``."""
    segments = path.rstrip("/").split("/")
    # Literal segments win over parameters: /users/me is not /users/{user_id}.
    for template, item in sorted(document["paths"].items(), key=lambda kv: kv[0].count("{")):
        parts = template.rstrip("/").split("/")
        if (
            len(parts) == len(segments)
            and method.lower() in item
            and all(
                t == s or (t.startswith("{") and t.endswith("}"))
                for t, s in zip(parts, segments, strict=True)
            )
        ):
            return str(template)
    return None


async def run_flows(api: Api) -> None:
    """Every documented operation, in success and in its documented failures."""
    http = api.client
    alice = await api.register_and_login("alice", client_type="app")
    bob = await api.register_and_login("bob", client_type="web")
    carol = await api.register_and_login("carol")
    outsider = await api.register_and_login("outsider")
    await http.post("/api/v1/auth/register", json={"username": bob.username, "password": "x" * 9})
    await http.post("/api/v1/auth/register", content=b'{"username": ')
    await http.post("/api/v1/auth/login", json={**_login(alice), "password": "wrong password"})
    refreshed = await http.post("/api/v1/auth/refresh", json={"refresh_token": carol.refresh_token})
    carol.access_token = refreshed.json()["access_token"]
    await http.post("/api/v1/auth/refresh", json={"refresh_token": "garbage"})

    await http.get("/api/v1/users/me", headers=alice.headers)
    await http.get("/api/v1/users/me")
    await http.get(f"/api/v1/users/{bob.id}", headers=alice.headers)
    await http.get("/api/v1/users/9000000", headers=alice.headers)
    await http.get("/api/v1/users/0", headers=alice.headers)
    await http.get(f"/api/v1/users?username={bob.username.upper()}", headers=alice.headers)
    await http.get("/api/v1/users?username=nobody_here", headers=alice.headers)

    group = (
        await http.post(
            "/api/v1/groups", json={"name": "team", "member_ids": [bob.id]}, headers=alice.headers
        )
    ).json()
    gid = group["id"]
    await http.post(
        "/api/v1/groups", json={"name": "x", "member_ids": [9_000_000]}, headers=alice.headers
    )
    await http.get(f"/api/v1/groups/{gid}", headers=bob.headers)
    await http.get(f"/api/v1/groups/{gid}", headers=outsider.headers)
    await http.get("/api/v1/groups/9000000", headers=bob.headers)
    await http.get(f"/api/v1/groups/{gid}/members", headers=bob.headers)
    await http.get("/api/v1/groups?limit=1", headers=bob.headers)
    await http.get("/api/v1/groups?cursor=garbage", headers=bob.headers)
    await http.post(
        f"/api/v1/groups/{gid}/members", json={"user_ids": [carol.id]}, headers=alice.headers
    )
    await http.post(
        f"/api/v1/groups/{gid}/members", json={"user_ids": [outsider.id]}, headers=bob.headers
    )
    await http.delete(f"/api/v1/groups/{gid}/members/{carol.id}", headers=alice.headers)
    await http.delete(f"/api/v1/groups/{gid}/members/{alice.id}", headers=alice.headers)
    role_url = f"/api/v1/groups/{gid}/members/{bob.id}/role"
    await http.put(role_url, json={"role": "admin"}, headers=alice.headers)
    await http.put(role_url, json={"role": "member"}, headers=bob.headers)  # 403
    await http.put(role_url, json={"role": "owner"}, headers=alice.headers)  # 400
    await http.put(
        f"/api/v1/groups/{gid}/members/{alice.id}/role",
        json={"role": "admin"},
        headers=alice.headers,
    )  # 409
    await http.put(
        f"/api/v1/groups/{gid}/members/{outsider.id}/role",
        json={"role": "admin"},
        headers=alice.headers,
    )  # 404
    mute_url = f"/api/v1/groups/{gid}/members/{bob.id}/mute"
    await http.post(mute_url, json={"until": 2**52}, headers=alice.headers)
    await http.post(mute_url, json={"until": 1}, headers=alice.headers)  # 400
    await http.post(mute_url, json={"until": 2**52}, headers=outsider.headers)  # 403
    await http.post(
        f"/api/v1/groups/{gid}/members/{alice.id}/mute",
        json={"until": 2**52},
        headers=alice.headers,
    )  # 409
    await http.delete(f"/api/v1/groups/{gid}/members/{outsider.id}/mute", headers=alice.headers)
    await http.delete(mute_url, headers=alice.headers)
    transfer_url = f"/api/v1/groups/{gid}/transfer"
    await http.post(transfer_url, json={"user_id": alice.id}, headers=alice.headers)  # 409
    await http.post(transfer_url, json={"user_id": alice.id}, headers=outsider.headers)  # 403
    await http.post(transfer_url, json={"user_id": outsider.id}, headers=alice.headers)  # 404
    doomed = (
        await http.post("/api/v1/groups", json={"name": "doomed"}, headers=alice.headers)
    ).json()["id"]
    await http.post(transfer_url, json={"user_id": bob.id}, headers=alice.headers)
    await http.delete(f"/api/v1/groups/{doomed}", headers=bob.headers)  # 403
    await http.delete("/api/v1/groups/9000000", headers=alice.headers)  # 404
    await http.patch(f"/api/v1/groups/{doomed}", json={"notice": "hi"}, headers=alice.headers)
    await http.patch(f"/api/v1/groups/{doomed}", json={"name": ""}, headers=alice.headers)  # 400
    await http.patch(f"/api/v1/groups/{doomed}", json={"name": "x"}, headers=bob.headers)  # 403
    await http.patch("/api/v1/groups/9000000", json={"name": "x"}, headers=alice.headers)  # 404
    await http.delete(f"/api/v1/groups/{doomed}", headers=alice.headers)

    message = {
        "to": bob.id,
        "session_type": "single",
        "client_msg_id": "oa-1",
        "msg_type": "text",
        "body": "hello",
    }
    await http.post("/api/v1/messages", json=message, headers=alice.headers)
    await http.post("/api/v1/messages", json=message, headers=alice.headers)  # 200: replay
    await http.post(
        "/api/v1/messages",
        json={**message, "client_msg_id": "oa-2", "to": gid, "session_type": "group"},
        headers=bob.headers,
    )
    await http.post(
        "/api/v1/messages",
        json={**message, "to": gid, "session_type": "group"},
        headers=outsider.headers,
    )
    await http.post("/api/v1/messages", json={**message, "to": 9_000_000}, headers=alice.headers)
    await http.post(
        "/api/v1/messages", json={**message, "body": "x" * MAX_REQUEST_BYTES}, headers=alice.headers
    )
    await http.post("/api/v1/messages", json={**message, "to": "2"}, headers=alice.headers)

    conv = conversation_id(alice.id, bob.id)
    await http.get("/api/v1/conversations", headers=bob.headers)
    first = (await http.get("/api/v1/conversations?limit=1", headers=bob.headers)).json()
    await http.get(
        "/api/v1/conversations", params={"before": first["next_before"]}, headers=bob.headers
    )
    await http.get("/api/v1/conversations?limit=100000", headers=bob.headers)
    await http.get("/api/v1/conversations?before=garbage", headers=bob.headers)
    await http.get(f"/api/v1/conversations/{conv}/messages", headers=bob.headers)
    await http.get(f"/api/v1/conversations/{conv}/messages", headers=outsider.headers)
    await http.get("/api/v1/conversations/g:9000000/messages", headers=bob.headers)
    await http.get(f"/api/v1/conversations/{conv}/messages?limit=1000", headers=bob.headers)
    await http.post(f"/api/v1/conversations/{conv}/read", json={"seq": 1}, headers=bob.headers)
    await http.post(f"/api/v1/conversations/{conv}/read", json={"seq": 1}, headers=outsider.headers)
    await http.post("/api/v1/conversations/g:9000000/read", json={"seq": 1}, headers=bob.headers)
    await http.get(f"/api/v1/presence?user_ids={bob.id},{alice.id},1", headers=alice.headers)
    await http.get("/api/v1/presence?user_ids=1,,2", headers=alice.headers)
    await http.get("/api/v1/presence", headers=alice.headers)
    prefs = f"/api/v1/conversations/{conv}/settings"
    await http.patch(prefs, json={"pinned": True, "muted_until": 1}, headers=bob.headers)
    await http.patch(prefs, json={"pinned": "yes"}, headers=bob.headers)
    await http.patch(prefs, json={"pinned": True}, headers=outsider.headers)
    await http.patch("/api/v1/conversations/g:9000000/settings", json={}, headers=bob.headers)
    await http.get("/api/v1/sync?after=0", headers=alice.headers)
    await http.get("/api/v1/sync?after=-1", headers=alice.headers)

    one = f"/api/v1/conversations/{conv}/messages/1"
    await http.patch(one, json={"body": "hello!"}, headers=alice.headers)
    await http.patch(one, json={"body": "mine"}, headers=bob.headers)  # 403: not the sender
    await http.patch(one, json={"body": ""}, headers=alice.headers)
    await http.patch(one, json={"body": "x" * MAX_REQUEST_BYTES}, headers=alice.headers)
    await http.post(f"{one}/recall", headers=alice.headers)
    await http.post(f"{one}/recall", headers=outsider.headers)
    await http.patch(one, json={"body": "again"}, headers=alice.headers)  # 409: recalled
    await http.post(f"/api/v1/conversations/{conv}/messages/99/recall", headers=alice.headers)
    await http.delete(one, headers=bob.headers)
    await http.delete(f"/api/v1/conversations/{conv}/messages/99", headers=bob.headers)
    readers = f"/api/v1/conversations/{conv}/messages/1/readers"
    await http.post(f"/api/v1/conversations/{conv}/read", json={"seq": 1}, headers=bob.headers)
    await http.get(readers, headers=alice.headers)
    await http.get(f"{readers}?limit=1000", headers=alice.headers)  # 400
    await http.get(f"{readers}?cursor=garbage", headers=alice.headers)  # 400
    await http.get(readers, headers=outsider.headers)  # 403
    await http.get(f"/api/v1/conversations/{conv}/messages/99/readers", headers=bob.headers)

    blocks = "/api/v1/users/me/blocks"
    await http.post(f"{blocks}/{outsider.id}", headers=carol.headers)
    await http.post(f"{blocks}/{outsider.id}", headers=carol.headers)  # 200: already blocked
    await http.post(f"{blocks}/{carol.id}", headers=carol.headers)  # 400: oneself
    await http.post(f"{blocks}/9000000", headers=carol.headers)
    await http.post("/api/v1/messages", json={**message, "to": carol.id}, headers=outsider.headers)
    await http.get(blocks, headers=carol.headers)
    await http.get(f"{blocks}?cursor=garbage", headers=carol.headers)
    await http.delete(f"{blocks}/{outsider.id}", headers=carol.headers)
    await http.delete(f"{blocks}/9000000", headers=carol.headers)

    push_token = f"/api/v1/devices/{alice.device_id}/push-token"
    await http.put(push_token, json={"platform": "apns", "token": "ab12"}, headers=alice.headers)
    await http.put(push_token, json={"platform": "sms", "token": "x"}, headers=alice.headers)
    await http.put(  # 404: alice never logged in from it
        "/api/v1/devices/tablet-9/push-token",
        json={"platform": "fcm", "token": "x"},
        headers=alice.headers,
    )
    await http.delete(push_token, headers=alice.headers)
    await http.delete(push_token, headers=alice.headers)  # 404: none left

    await http.get("/")
    await http.get("/healthz")
    await http.get("/readyz")
    await http.get("/metrics")
    await http.get(f"/ws?token={alice.access_token}")
    await http.post("/api/v1/auth/logout", headers=outsider.headers)
    await http.post("/api/v1/auth/logout", headers=outsider.headers)


def _login(user: Any) -> dict[str, str]:
    return {
        "username": user.username,
        "password": user.password,
        "device_id": user.device_id,
        "client_type": user.client_type,
    }


async def test_every_response_of_the_flows_is_documented_and_valid(
    document: dict[str, Any], recorded: tuple[Api, list[httpx.Response]]
) -> None:
    api, responses = recorded
    await run_flows(api)
    schema = schemathesis.openapi.from_dict(document)

    reached: set[tuple[str, str]] = set()
    problems: list[str] = []
    for response in responses:
        method, path = response.request.method, response.request.url.path
        template = operation_of(document, method, path)
        if template is None:
            problems.append(f"{method} {path}: no documented operation")
            continue
        reached.add((method.lower(), template))
        operation = schema[template][method]
        where = f"{method} {path} -> {response.status_code}"
        if operation.responses.find_by_status_code(response.status_code) is None:
            problems.append(f"{where}: status not documented ({response.text[:120]})")
            continue
        try:
            operation.validate_response(response)
        except Exception as exc:  # schemathesis reports every mismatch in one failure group
            problems.append(f"{where}: {exc}")
    assert problems == []

    documented = {
        (m, p) for p, item in document["paths"].items() for m in item if m != "parameters"
    }
    assert documented - reached == set(), "documented operations no flow reached"
    statuses = {r.status_code for r in responses}
    assert {200, 201, 204, 400, 401, 403, 404, 409, 413, 426} <= statuses


def test_the_document_declares_bodies_errors_and_auth(document: dict[str, Any]) -> None:
    components = document["components"]
    assert components["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": components["securitySchemes"]["BearerToken"]["description"],
    }
    error = components["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    body = components["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "field"}
    assert set(body["required"]) == {"code", "message"}

    public = {
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/healthz",
        "/readyz",
        "/metrics",
        "/ws",
    }
    for path, item in document["paths"].items():
        if path.startswith("/schema"):
            continue
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            if path.startswith("/api/"):
                for status in ("400", "503"):
                    ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorResponse", where
            if path.startswith("/api/") and path not in public:
                assert operation["security"] == [{"BearerToken": []}], where
                assert {"401", "429"} <= set(responses), where
            # Logout, recall and block act on what the URL and token name: they take no body.
            bodiless = path == "/api/v1/auth/logout" or path.endswith("/recall")
            bodiless = bodiless or path == "/api/v1/users/me/blocks/{user_id}"
            if method == "post" and not bodiless:
                request = operation["requestBody"]["content"]["application/json"]["schema"]
                assert request["additionalProperties"] is False, where
                assert request["required"], where
                assert "413" in responses, where
    ws = document["paths"]["/ws"]["get"]
    assert {"101", "426"} <= set(ws["responses"])
    assert any(p["name"] == "token" and p["in"] == "query" for p in ws["parameters"])
    for code in ("4401", "4409", "4408", "1009", "1013", "1001"):
        assert code in ws["description"]


def test_the_conversation_list_documents_its_page_parameters(document: dict[str, Any]) -> None:
    listing = document["paths"]["/api/v1/conversations"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert {"limit", "before"} <= set(params)
    for name in ("limit", "before"):
        assert params[name]["in"] == "query"
        assert params[name]["required"] is False
        assert params[name]["description"]
    assert "chat.conversations_max_limit" in params["limit"]["description"]
    assert "next_before" in params["before"]["description"]
    assert {"400", "401", "429", "503"} <= set(listing["responses"])
    page = document["components"]["schemas"]["ConversationList"]["properties"]
    assert {"conversations", "total_unread", "next_before"} <= set(page)
    preview = document["components"]["schemas"]["MessagePreview"]["properties"]
    assert preview["truncated"]["type"] == "boolean"
