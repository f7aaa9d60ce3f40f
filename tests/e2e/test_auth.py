"""Accounts, device logins, token rotation and logout against a real server."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.e2e.client import PASSWORD, Api, User, assert_error, bearer, unique_name

pytestmark = pytest.mark.e2e


async def me_status(api: Api, access_token: str) -> int:
    response = await api.client.get("/api/v1/users/me", headers=bearer(access_token))
    return response.status_code


async def test_register_returns_profile_and_login_works_for_every_client_type(api: Api) -> None:
    username = unique_name("Alice")
    user = await api.register(username, nickname="Alice A.")
    assert user["username"] == username.lower()
    assert user["nickname"] == "Alice A."
    assert isinstance(user["id"], int)
    assert 1 <= user["id"] < 2**53
    assert abs(user["created_at"] - time.time() * 1000) < 60_000

    before_ms = time.time() * 1000
    for client_type in ("app", "web", "desktop"):
        # Usernames are case-insensitive: the mixed-case spelling logs in too.
        device = await api.login(
            username.upper(), device_id=f"{client_type}-1", client_type=client_type, platform="x"
        )
        assert device.id == user["id"]
        assert device.tokens["device_id"] == f"{client_type}-1"
        assert device.access_token != device.refresh_token
        assert device.tokens["access_expires_at"] > before_ms
        assert device.tokens["refresh_expires_at"] > device.tokens["access_expires_at"]
        me = await api.client.get("/api/v1/users/me", headers=device.headers)
        assert me.status_code == 200
        assert me.json() == user


async def test_nickname_defaults_to_the_username_as_typed(api: Api) -> None:
    username = unique_name("Bob")
    user = await api.register(username)
    assert user["nickname"] == username


async def test_users_me_and_another_users_profile(
    api: Api, register_and_login: Callable[..., Awaitable[User]]
) -> None:
    alice = await register_and_login("alice")
    bob = await register_and_login("bob", client_type="web")

    me = await api.client.get("/api/v1/users/me", headers=alice.headers)
    assert me.status_code == 200
    assert me.json()["id"] == alice.id
    assert me.json()["username"] == alice.username.lower()

    other = await api.client.get(f"/api/v1/users/{bob.id}", headers=alice.headers)
    assert other.status_code == 200
    assert set(other.json()) == {"id", "username", "nickname", "created_at"}
    assert other.json()["id"] == bob.id
    assert "password" not in other.text

    missing = await api.client.get(f"/api/v1/users/{bob.id + 10_000}", headers=alice.headers)
    assert_error(missing, 404, "user_not_found")


async def refresh(api: Api, refresh_token: str) -> httpx.Response:
    return await api.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def test_refresh_rotates_and_reusing_the_old_token_ends_the_session(api: Api) -> None:
    alice = await api.register_and_login("alice", device_id="phone")
    laptop = await api.login(alice.username, device_id="laptop", client_type="desktop")

    first = await refresh(api, alice.refresh_token)
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["user_id"] == alice.id
    assert rotated["device_id"] == "phone"
    assert rotated["refresh_token"] != alice.refresh_token
    assert await me_status(api, rotated["access_token"]) == 200

    # Showing a rotated refresh token again means it leaked: 401, and the session ends.
    assert_error(await refresh(api, alice.refresh_token), 401, "refresh_token_reused")
    assert_error(await refresh(api, rotated["refresh_token"]), 401, "invalid_refresh_token")
    revoked = await api.client.get("/api/v1/users/me", headers=bearer(rotated["access_token"]))
    assert_error(revoked, 401, "token_revoked")

    # Only that device's session ended.
    assert await me_status(api, laptop.access_token) == 200


async def test_a_chain_of_refreshes_keeps_working(api: Api) -> None:
    alice = await api.register_and_login("alice")
    token = alice.refresh_token
    for _ in range(4):
        response = await refresh(api, token)
        assert response.status_code == 200, response.text
        assert response.json()["refresh_token"] != token
        token = response.json()["refresh_token"]
        assert await me_status(api, response.json()["access_token"]) == 200


async def test_reusing_any_earlier_refresh_token_ends_the_session(api: Api) -> None:
    # A thief who stole the first token and rotated twice must not keep the session when the
    # victim shows that first token: every rotated token counts as reuse, not only the last.
    victim = await api.register_and_login("alice")
    stolen = victim.refresh_token
    second = await refresh(api, stolen)
    assert second.status_code == 200
    third = await refresh(api, second.json()["refresh_token"])
    assert third.status_code == 200
    thief = third.json()

    shown_again = await refresh(api, stolen)
    assert_error(shown_again, 401)
    assert_error(await refresh(api, thief["refresh_token"]), 401, "invalid_refresh_token")
    revoked = await api.client.get("/api/v1/users/me", headers=bearer(thief["access_token"]))
    assert_error(revoked, 401, "token_revoked")


async def test_a_guessed_refresh_token_does_not_end_someone_elses_session(api: Api) -> None:
    # Refresh tokens are "<session id>.<secret>" and session ids are small integers: a stranger
    # who sends a made-up secret for a session id must be refused without harming its owner.
    alice = await api.register_and_login("alice")
    session_id = alice.refresh_token.split(".", 1)[0]

    guess = await refresh(api, f"{session_id}.made-up-secret")
    assert_error(guess, 401, "invalid_refresh_token")

    assert await me_status(api, alice.access_token) == 200
    still = await refresh(api, alice.refresh_token)
    assert still.status_code == 200, still.text


async def test_logout_revokes_this_devices_access_and_refresh_tokens(api: Api) -> None:
    phone = await api.register_and_login("alice", device_id="phone")
    web = await api.login(phone.username, device_id="browser", client_type="web")

    response = await api.client.post("/api/v1/auth/logout", headers=phone.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert_error(
        await api.client.get("/api/v1/users/me", headers=phone.headers), 401, "token_revoked"
    )
    assert_error(
        await api.client.post("/api/v1/auth/logout", headers=phone.headers), 401, "token_revoked"
    )
    refresh = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": phone.refresh_token}
    )
    assert_error(refresh, 401, "invalid_refresh_token")

    assert await me_status(api, web.access_token) == 200
    again = await api.login(phone.username, device_id="phone")
    assert await me_status(api, again.access_token) == 200


async def test_logging_in_again_on_a_device_ends_its_previous_session(api: Api) -> None:
    old = await api.register_and_login("alice", device_id="tablet")
    new = await api.login(old.username, device_id="tablet")

    assert_error(
        await api.client.get("/api/v1/users/me", headers=old.headers), 401, "token_revoked"
    )
    stale = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": old.refresh_token})
    assert_error(stale, 401, "invalid_refresh_token")
    assert await me_status(api, new.access_token) == 200


async def test_wrong_password_and_unknown_user_get_the_same_401(api: Api) -> None:
    username = unique_name("alice")
    await api.register(username)
    body = {"device_id": "d", "client_type": "app"}

    wrong = await api.client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD + "x", **body}
    )
    unknown = await api.client.post(
        "/api/v1/auth/login",
        json={"username": unique_name("nobody"), "password": PASSWORD, **body},
    )
    assert assert_error(wrong, 401, "bad_credentials") == assert_error(
        unknown, 401, "bad_credentials"
    )
