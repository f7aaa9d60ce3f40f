"""A public instance's controls, as an operator uses them next to a running server.

``gomicroim users|invites|groups`` run as separate processes on the server's data directory
while ``gomicroim serve`` runs: what they change reaches the server (a disabled user's socket
closes 4401 within ``identity.revocation_poll_s``, their next request is 401), and
registration follows ``auth.registration``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.client import PASSWORD, Api, assert_error
from tests.e2e.conftest import StartServer
from tests.e2e.devices import Devices, opened_devices
from tests.e2e.server import BASE_ENV, EXECUTABLE, ServerProcess

pytestmark = pytest.mark.e2e

POLL_S = 0.5
Connect = Callable[[ServerProcess], Api]


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


def gomicroim(
    server: ServerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an operator command on ``server``'s data directory and settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    env.update(server.env)
    return subprocess.run(
        [str(EXECUTABLE), *args, "--data-dir", str(server.data_dir)],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout.splitlines()


def one_error_line(result: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("gomicroim:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


async def login_answer(api: Api, username: str, password: str = PASSWORD) -> httpx.Response:
    """The raw answer to a login of a new device, for the refusals ``Api.login`` cannot show."""
    body = {"username": username, "password": password, "device_id": "new", "client_type": "web"}
    return await api.client.post("/api/v1/auth/login", json=body)


@pytest.fixture
def polled(start_server: StartServer) -> ServerProcess:
    return start_server(GOMICROIM__IDENTITY__REVOCATION_POLL_S=str(POLL_S))


async def test_a_disabled_users_socket_closes_4401_and_their_next_request_is_401(
    polled: ServerProcess, connect: Connect, devices: Devices
) -> None:
    api = connect(polled)
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    socket = await devices.open(polled, alice)
    bobs = await devices.open(polled, bob)

    started = time.monotonic()
    lines = ok(gomicroim(polled, "users", "disable", alice.username))
    assert lines == [f"user {alice.username} (id {alice.id}) disabled; 1 sessions ended"]

    close = await socket.wait_closed(within_s=POLL_S + 3)
    took = time.monotonic() - started
    assert close is not None
    assert (close.code, close.reason) == (4401, "token_revoked")
    assert "user_disabled" in socket.received[-1].frame["reason"], socket.last_frames()
    assert took < POLL_S + 3, took
    me = await api.client.get("/api/v1/users/me", headers=alice.headers)
    assert_error(me, 401, "token_revoked")
    refreshed = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token}
    )
    assert_error(refreshed, 401, "invalid_refresh_token")
    assert_error(await login_answer(api, alice.username), 403, "user_disabled")
    # Nobody else was touched.
    assert bobs.close is None
    assert (await api.client.get("/api/v1/users/me", headers=bob.headers)).status_code == 200

    assert ok(gomicroim(polled, "users", "enable", alice.username)) == [
        f"user {alice.username} (id {alice.id}) enabled"
    ]
    again = await api.login(alice.username, device_id="laptop")
    assert (await api.client.get("/api/v1/users/me", headers=again.headers)).status_code == 200


async def test_a_password_reset_ends_sessions_and_only_the_new_password_logs_in(
    polled: ServerProcess, connect: Connect, devices: Devices
) -> None:
    api = connect(polled)
    alice = await api.register_and_login("alice")
    socket = await devices.open(polled, alice)

    lines = ok(
        gomicroim(
            polled,
            "users",
            "reset-password",
            alice.username,
            "--password-stdin",
            stdin="a fresh password\n",
        )
    )

    assert lines == [f"user {alice.username} (id {alice.id}) has a new password; 1 sessions ended"]
    close = await socket.wait_closed(within_s=POLL_S + 3)
    assert close is not None
    assert close.code == 4401
    assert_error(await login_answer(api, alice.username), 401, "bad_credentials")
    await api.login(alice.username, "a fresh password")


async def test_invite_only_registration_end_to_end(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server(GOMICROIM__AUTH__REGISTRATION="invite")
    api = connect(server)
    register = "/api/v1/auth/register"

    missing = await api.client.post(register, json={"username": "alice", "password": PASSWORD})
    assert_error(missing, 403, "invite_required")

    [line] = ok(gomicroim(server, "invites", "create", "--uses", "1", "--note", "for alice"))
    code = line.split(" ", 1)[0]
    assert "status=active uses=0/1" in line
    assert "note='for alice'" in line
    unknown = await api.client.post(
        register, json={"username": "alice", "password": PASSWORD, "invite_code": "nope-nope"}
    )
    assert_error(unknown, 403, "invite_invalid", "invite_code")

    created = await api.register("alice", invite_code=code)
    assert created["username"] == "alice"
    used = await api.client.post(
        register, json={"username": "bob", "password": PASSWORD, "invite_code": code}
    )
    assert_error(used, 403, "invite_used_up", "invite_code")
    [listed] = ok(gomicroim(server, "invites", "list"))
    assert "status=used-up uses=1/1" in listed
    assert code not in listed  # only its hash is kept

    [second] = ok(gomicroim(server, "invites", "create", "--uses", "5"))
    second_code, second_id = second.split(" ")[0], second.split(" ")[1].removeprefix("id=")
    [revoked] = ok(gomicroim(server, "invites", "revoke", second_id))
    assert revoked.startswith(f"revoked id={second_id} status=revoked")
    after = await api.client.post(
        register, json={"username": "bob", "password": PASSWORD, "invite_code": second_code}
    )
    assert_error(after, 403, "invite_invalid")
    # The refused registrations created nobody.
    alice = await api.login("alice")
    found = await api.client.get("/api/v1/users", params={"username": "bob"}, headers=alice.headers)
    assert_error(found, 404, "user_not_found")


async def test_closed_registration_leaves_accounts_to_the_operator(
    start_server: StartServer, connect: Connect
) -> None:
    server = start_server(GOMICROIM__AUTH__REGISTRATION="closed")
    api = connect(server)

    refused = await api.client.post(
        "/api/v1/auth/register", json={"username": "alice", "password": PASSWORD}
    )
    assert_error(refused, 403, "registration_closed")

    [line] = ok(
        gomicroim(
            server,
            "users",
            "create",
            "alice",
            "--nickname",
            "Alice",
            "--password-stdin",
            stdin=f"{PASSWORD}\n",
        )
    )
    assert line.startswith("created user alice (id ")
    alice = await api.login("alice")
    me = (await api.client.get("/api/v1/users/me", headers=alice.headers)).json()
    assert (me["username"], me["nickname"]) == ("alice", "Alice")


async def test_groups_are_listed_for_the_operator(polled: ServerProcess, connect: Connect) -> None:
    api = connect(polled)
    owner = await api.register_and_login("owner")
    member = await api.register_and_login("member")
    group = await api.create_group(owner, "Team 🚀", [member])

    lines = ok(gomicroim(polled, "groups", "list"))

    assert lines == [
        f"id={group['id']} members=2 owner={owner.id} created="
        + lines[0].split("created=")[1].split(" ")[0]
        + " name='Team 🚀'"
    ]
    assert ok(gomicroim(polled, "groups", "list", "--limit", "1")) == lines


async def test_the_operator_dissolves_a_group_while_the_server_serves(
    polled: ServerProcess, connect: Connect
) -> None:
    api = connect(polled)
    owner = await api.register_and_login("owner")
    member = await api.register_and_login("member")
    gid = (await api.create_group(owner, "Team", [member]))["id"]
    await api.send_group(member, gid, "before")

    lines = ok(gomicroim(polled, "groups", "dissolve", str(gid)))

    assert lines == [
        f"group {gid} dissolved (name='Team', members=2): history stays readable, sending stops"
    ]
    got = await api.client.get(f"/api/v1/groups/{gid}", headers=member.headers)
    assert got.json()["dissolved"] is True
    # The server's member cache sees another process's change within groups.member_cache_ttl_s
    # (5 s by default); from then on every send is refused and stores nothing.
    deadline = time.monotonic() + 15
    while True:
        refused = await api.send_raw(member, gid, "late", session_type="group")
        if refused.status_code == 403 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert_error(refused, 403, "group_dissolved")
    kept = await api.history(member, f"g:{gid}")
    # Sends within the cache's TTL may still have been stored ("late").
    assert next(m["body"] for m in kept if m["msg_type"] == "text") == "before"
    # The operator's dissolution is recorded too: sent by user 0, with no actor.
    [dissolution] = [m for m in kept if m["sender_id"] == 0]
    assert dissolution["msg_type"] == "system"
    assert json.loads(dissolution["body"]) == {"event": "group_dissolved", "actor": None}
    assert_error(
        await api.send_raw(owner, gid, "after", session_type="group"), 403, "group_dissolved"
    )
    assert await api.history(owner, f"g:{gid}") == kept
    one_error_line(gomicroim(polled, "groups", "dissolve", str(gid + 10_000)), 1, "does not exist")


def test_operator_mistakes_are_one_line_with_the_fix_and_exit_1_or_2(
    polled: ServerProcess,
) -> None:
    one_error_line(gomicroim(polled, "users", "disable", "nobody"), 1, "no user is called 'nobody'")
    one_error_line(
        gomicroim(polled, "users", "create", "bob", "--password-stdin", stdin="short\n"),
        1,
        "password",
    )
    ok(gomicroim(polled, "users", "create", "bob", "--password-stdin", stdin=f"{PASSWORD}\n"))
    one_error_line(
        gomicroim(polled, "users", "create", "BOB", "--password-stdin", stdin=f"{PASSWORD}\n"),
        1,
        "taken",
    )
    # No terminal to ask on, and no --password-stdin: say how to pass it.
    one_error_line(gomicroim(polled, "users", "create", "carol", stdin=""), 2, "--password-stdin")
    one_error_line(gomicroim(polled, "invites", "revoke", "424242"), 1, "invites list")
    bad_flag = gomicroim(polled, "invites", "create", "--expires-in", "soon")
    assert bad_flag.returncode == 2
    assert "e.g. 7d, or never" in bad_flag.stderr
    assert gomicroim(polled, "users").returncode == 2  # a subcommand is required


def test_a_database_that_cannot_be_reached_is_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    env.update(BASE_ENV)
    env["GOMICROIM__STORAGE__DATABASE_URL"] = "mysql://root:hunter2@127.0.0.1:1/gomicroim"
    env["GOMICROIM__IDENTITY__JWT_SECRET"] = "x" * 40
    result = subprocess.run(
        [str(EXECUTABLE), "invites", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = one_error_line(result, 2, "storage.database_url")
    assert "hunter2" not in line


async def test_commands_run_while_the_server_serves(
    polled: ServerProcess, connect: Connect
) -> None:
    # Short-lived writers take no lock: several at once next to a busy server all succeed.
    api = connect(polled)
    sender = await api.register_and_login("sender")
    peer = await api.register_and_login("peer")

    async def keep_sending() -> int:
        for n in range(30):
            await api.send(sender, peer.id, f"m{n}")
        return 30

    sending = asyncio.create_task(keep_sending())
    results = await asyncio.gather(
        *(asyncio.to_thread(gomicroim, polled, "invites", "create") for _ in range(3))
    )
    assert await sending == 30
    for result in results:
        ok(result)
    assert len(ok(gomicroim(polled, "invites", "list"))) == 3
