"""Input rules a client meets: exact patterns, safe display names, passwords, bodies, reads."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.e2e.client import PASSWORD, Api, assert_error, conversation_id, unique_name
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"

#: Text that looks harmless on screen but is not: control characters, terminal escapes and
#: bidirectional controls (which make "alice\u202egnp.exe" display as "aliceexe.png").
UNSAFE_NAMES = {
    "NUL": "ali\x00ce",
    "newline": "alice\nbob",
    "trailing newline": "alice\n",
    "tab": "al\tice",
    "ANSI colour escape": "\x1b[31malice\x1b[0m",
    "C1 CSI": "alice\x9b2J",
    "DEL": "alice\x7f",
    "right-to-left override": "alice\u202egnp.exe",
    "left-to-right isolate": "\u2066alice\u2069",
    "right-to-left mark": "alice\u200f",
    "line separator": "alice\u2028",
}


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


async def register_raw(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(REGISTER, json={"password": PASSWORD, **body})


async def test_a_trailing_newline_does_not_make_a_second_account(api: Api) -> None:
    name = unique_name("nl")
    await api.register(name)

    for variant in (f"{name}\n", f"{name.upper()}\n", f"{name}\r\n", f"\n{name}"):
        assert_error(
            await register_raw(api.client, username=variant), 400, "invalid_field", "username"
        )
        login = await api.client.post(
            LOGIN,
            json={
                "username": variant,
                "password": PASSWORD,
                "device_id": "phone-1",
                "client_type": "app",
            },
        )
        assert_error(login, 400, "invalid_field", "username")
    # Still one account: the name as registered logs in, and is taken.
    assert_error(await register_raw(api.client, username=name), 409, "username_taken")
    await api.login(name)


async def test_device_ids_and_client_msg_ids_must_match_exactly(api: Api) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    login = await api.client.post(
        LOGIN,
        json={
            "username": alice.username,
            "password": PASSWORD,
            "device_id": "phone-1\n",
            "client_type": "app",
        },
    )
    assert_error(login, 400, "invalid_field", "device_id")

    stored = await api.send(alice, bob.id, "first", client_msg_id="m-1")
    again = await api.send_raw(alice, bob.id, "second", client_msg_id="m-1\n")
    assert_error(again, 400, "invalid_field", "client_msg_id")
    history = await api.history(alice, conversation_id(alice.id, bob.id))
    assert [(m["client_msg_id"], m["body"]) for m in history] == [("m-1", "first")]
    assert stored["seq"] == 1


@pytest.mark.parametrize("nickname", UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
async def test_unsafe_nicknames_are_refused_and_nothing_is_registered(
    api: Api, nickname: str
) -> None:
    name = unique_name("nick")
    response = await register_raw(api.client, username=name, nickname=nickname)
    assert_error(response, 400, "invalid_field", "nickname")
    # Nothing was created: the name is still free.
    assert (await api.register(name, nickname="Alice"))["nickname"] == "Alice"


async def test_ordinary_names_in_any_script_are_kept_as_typed(api: Api) -> None:
    for nickname in ("Zoë O'Brien", "李小龍", "محمد", "😀 party", "a b  c"):
        user = await api.register(unique_name("ok"), nickname=nickname)
        assert user["nickname"] == nickname


@pytest.mark.parametrize("name", UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
async def test_unsafe_group_names_are_refused_and_no_group_is_made(api: Api, name: str) -> None:
    owner = await api.register_and_login("owner")
    response = await api.client.post(
        "/api/v1/groups", json={"name": name, "member_ids": []}, headers=owner.headers
    )
    assert_error(response, 400, "invalid_field", "name")
    assert (await api.conversations(owner))["conversations"] == []
    created = await api.create_group(owner, "العربية 中文 ok", [])
    assert created["name"] == "العربية 中文 ok"


async def test_an_empty_message_body_is_refused_and_nothing_is_stored(api: Api) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    await api.send(alice, bob.id, "hello")

    assert_error(
        await api.send_raw(alice, bob.id, "", client_msg_id="empty"), 400, "invalid_field", "body"
    )

    history = await api.history(alice, conversation_id(alice.id, bob.id))
    assert [m["body"] for m in history] == ["hello"]
    listed = await api.conversation(bob, conversation_id(alice.id, bob.id))
    assert listed is not None
    assert (listed["last_seq"], listed["unread"]) == (1, 1)


async def test_sync_page_size_documented_is_the_one_enforced(api: Api) -> None:
    user = await api.register_and_login("sync")
    schema = (await api.client.get("/schema/openapi.json")).json()
    params = schema["paths"]["/api/v1/sync"]["get"]["parameters"]
    limit = next(p for p in params if p["name"] == "limit")
    documented_max = limit["schema"].get("maximum")
    enforced_max = 200  # timeline.max_sync_page default
    assert documented_max in (None, enforced_max), limit
    assert "timeline.max_sync_page" in limit["description"]

    ok = await api.client.get("/api/v1/sync", params={"limit": enforced_max}, headers=user.headers)
    assert ok.status_code == 200, ok.text
    over = await api.client.get(
        "/api/v1/sync", params={"limit": enforced_max + 1}, headers=user.headers
    )
    error = assert_error(over, 400, "invalid_field", "limit")
    assert "timeline.max_sync_page" in error["message"]


async def test_passwords_follow_the_configured_policy(
    start_server: StartServer, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(start_server(GOMICROIM__IDENTITY__MIN_PASSWORD_CHARS="12"))
    name = unique_name("pw")

    short = await register_raw(api.client, username=name, password="elevenchars")
    error = assert_error(short, 400, "invalid_field", "password")
    assert "identity.min_password_chars" in error["message"]
    # Nothing was registered by the refusals; a password of 12 characters is fine.
    await api.register(name, password="twelve chars")
    await api.login(name, password="twelve chars")


async def test_a_password_equal_to_the_username_is_refused(api: Api) -> None:
    name = unique_name("same")
    for password in (name, name.upper()):
        assert_error(
            await register_raw(api.client, username=name, password=password),
            400,
            "invalid_field",
            "password",
        )
    await api.register(name, password=f"{name}!")


async def test_a_read_that_moves_nothing_sends_no_read_frames(
    server: ServerProcess, api: Api, devices: Devices
) -> None:
    alice = await api.register_and_login("alice", client_type="web")
    bob = await api.register_and_login("bob", client_type="web")
    bob_tablet = await api.login(bob.username, device_id="tablet", client_type="web")
    conv = conversation_id(alice.id, bob.id)
    for text in ("one", "two", "three"):
        await api.send(alice, bob.id, text)
    watchers = [await devices.open(server, alice), await devices.open(server, bob_tablet)]

    assert (await api.mark_read(bob, conv, 2))["read_seq"] == 2
    for device in watchers:
        await device.wait_frames("read", 1)

    # Again at 2, and back to 1: the position does not move, so nobody is told.
    assert (await api.mark_read(bob, conv, 2))["read_seq"] == 2
    assert (await api.mark_read(bob, conv, 1))["read_seq"] == 2
    for device in watchers:
        await device.ping()
        assert [r.frame["seq"] for r in device.of_type("read")] == [2], device.name

    assert (await api.mark_read(bob, conv, 3))["read_seq"] == 3
    for device in watchers:
        await device.wait_frames("read", 2)
        assert [r.frame["seq"] for r in device.of_type("read")] == [2, 3], device.name


def _mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_the_data_directory_and_its_files_are_private(
    server: ServerProcess, api: Api
) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    await api.send(alice, bob.id, "private")  # the WAL and its index exist while the server runs

    data = server.data_dir
    assert _mode(data) == 0o700
    files = {p.name: _mode(p) for p in data.iterdir()}
    assert {
        "gomicroim.sqlite3",
        "gomicroim.sqlite3-wal",
        "gomicroim.sqlite3-shm",
        "jwt_secret",
    } <= set(files), files
    assert {name: mode for name, mode in files.items() if mode & 0o077} == {}, files
