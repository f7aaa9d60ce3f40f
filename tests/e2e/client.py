"""A thin HTTP client for the gomicroim API as a chat app would use it, plus assertions."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

#: A decoded JSON object from the API.
Json = dict[str, Any]

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A username no other test on the same server uses (3-32 chars, allowed characters)."""
    return f"{prefix[:12]}_{next(_counter)}_{uuid.uuid4().hex[:8]}"


def conversation_id(a: int, b: int) -> str:
    """The single-chat conversation id of two users."""
    return f"s:{min(a, b)}:{max(a, b)}"


@dataclass
class User:
    """A registered, logged-in user on one device."""

    id: int
    username: str
    password: str
    device_id: str
    client_type: str
    access_token: str
    refresh_token: str
    tokens: dict[str, Any] = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for this device's access token."""
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization: Bearer`` header."""
    return {"Authorization": f"Bearer {token}"}


def json_object(response: httpx.Response) -> Json:
    """The response body, which must be a JSON object."""
    body = response.json()
    assert isinstance(body, dict), body
    return body


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """Assert the documented error shape ``{"error": {"code", "message", "field"?}}``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    payload = json_object(response)
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert isinstance(error, dict), payload
    assert isinstance(error["code"], str), error
    assert error["code"], error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert set(error) <= {"code", "message", "field"}, error
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
    return dict(error)


class Api:
    """Calls the API over one ``httpx.AsyncClient``; every helper asserts success."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def register(self, username: str, password: str = PASSWORD, **extra: Any) -> Json:
        """Register and return the user."""
        response = await self.client.post(
            "/api/v1/auth/register", json={"username": username, "password": password, **extra}
        )
        assert response.status_code == 201, response.text
        return json_object(response)

    async def login(
        self,
        username: str,
        password: str = PASSWORD,
        *,
        device_id: str = "phone-1",
        client_type: str = "app",
        platform: str | None = None,
    ) -> User:
        """Log one device in."""
        body: dict[str, Any] = {
            "username": username,
            "password": password,
            "device_id": device_id,
            "client_type": client_type,
        }
        if platform is not None:
            body["platform"] = platform
        response = await self.client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, response.text
        tokens = json_object(response)
        return User(
            id=tokens["user_id"],
            username=username,
            password=password,
            device_id=device_id,
            client_type=client_type,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            tokens=tokens,
        )

    async def register_and_login(
        self, prefix: str = "user", *, client_type: str = "app", device_id: str = "phone-1"
    ) -> User:
        """A fresh user with a unique name, logged in on one device."""
        username = unique_name(prefix)
        await self.register(username)
        return await self.login(username, device_id=device_id, client_type=client_type)

    async def create_group(self, owner: User, name: str, members: list[User]) -> Json:
        """Create a group owned by ``owner``."""
        response = await self.client.post(
            "/api/v1/groups",
            json={"name": name, "member_ids": [m.id for m in members]},
            headers=owner.headers,
        )
        assert response.status_code == 201, response.text
        return json_object(response)

    async def send_raw(
        self,
        sender: User,
        to: int,
        body: str = "hello",
        *,
        session_type: str = "single",
        client_msg_id: str | None = None,
        msg_type: str = "text",
    ) -> httpx.Response:
        """POST a message and return the raw response."""
        return await self.client.post(
            "/api/v1/messages",
            json={
                "to": to,
                "session_type": session_type,
                "client_msg_id": client_msg_id or uuid.uuid4().hex,
                "msg_type": msg_type,
                "body": body,
            },
            headers=sender.headers,
        )

    async def send(self, sender: User, to: int, body: str = "hello", **kwargs: Any) -> Json:
        """Send a message that must be stored now (201) and return it."""
        response = await self.send_raw(sender, to, body, **kwargs)
        assert response.status_code == 201, response.text
        return json_object(response)

    async def send_group(self, sender: User, group_id: int, body: str = "hi", **kw: Any) -> Json:
        """Send a group message that must be stored now."""
        return await self.send(sender, group_id, body, session_type="group", **kw)

    async def conversations(self, user: User, **params: int | str) -> Json:
        """The first page of the user's conversation list (``limit``, ``before``: others)."""
        response = await self.client.get(
            "/api/v1/conversations", params=params, headers=user.headers
        )
        assert response.status_code == 200, response.text
        return json_object(response)

    async def conversation(self, user: User, conv_id: str) -> Json | None:
        """One entry of the user's conversation list, or None."""
        listing = await self.conversations(user)
        return next((c for c in listing["conversations"] if c["conversation_id"] == conv_id), None)

    async def page(self, user: User, conv_id: str, **params: int) -> Json:
        """One history page."""
        response = await self.client.get(
            f"/api/v1/conversations/{conv_id}/messages", params=params, headers=user.headers
        )
        assert response.status_code == 200, response.text
        return json_object(response)

    async def history(self, user: User, conv_id: str, limit: int = 100) -> list[Json]:
        """The whole history, paged forward with ``after_seq`` the way a client catches up."""
        messages: list[Json] = []
        after = 0
        while True:
            page = await self.page(user, conv_id, after_seq=after, limit=limit)
            messages.extend(page["messages"])
            if not page["has_more"]:
                return messages
            assert page["messages"], page
            after = page["messages"][-1]["seq"]

    async def mark_read(self, user: User, conv_id: str, seq: int) -> Json:
        """Move the read position."""
        response = await self.client.post(
            f"/api/v1/conversations/{conv_id}/read", json={"seq": seq}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        return json_object(response)


class SyncApi:
    """Blocking setup helper for module-scoped fixtures (they run outside the test's loop)."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def register_and_login(self, prefix: str, client_type: str = "app") -> dict[str, Any]:
        """A fresh user's token pair plus ``headers`` and ``username``."""
        username = unique_name(prefix)
        registered = self.client.post(
            "/api/v1/auth/register", json={"username": username, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        login = self.client.post(
            "/api/v1/auth/login",
            json={
                "username": username,
                "password": PASSWORD,
                "device_id": "setup",
                "client_type": client_type,
            },
        )
        assert login.status_code == 200, login.text
        return {
            **login.json(),
            "username": username,
            "headers": bearer(login.json()["access_token"]),
        }

    def create_group(self, owner: dict[str, Any], members: list[dict[str, Any]]) -> int:
        """A group's id."""
        response = self.client.post(
            "/api/v1/groups",
            json={"name": "setup", "member_ids": [m["user_id"] for m in members]},
            headers=owner["headers"],
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def send(
        self, sender: dict[str, Any], to: int, body: str, session_type: str = "single"
    ) -> dict[str, Any]:
        """Send; must be stored now."""
        response = self.client.post(
            "/api/v1/messages",
            json={
                "to": to,
                "session_type": session_type,
                "client_msg_id": uuid.uuid4().hex,
                "msg_type": "text",
                "body": body,
            },
            headers=sender["headers"],
        )
        assert response.status_code == 201, response.text
        return json_object(response)
