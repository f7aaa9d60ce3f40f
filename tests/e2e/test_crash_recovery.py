"""Crash and shutdown under load: what acknowledged senders and connected devices see afterwards.

Senders keep sending until the server goes away and remember which sends were acknowledged
(2xx). After a restart on the same data directory, every acknowledged message is in history
exactly once and in every app recipient's timeline exactly once, with no duplicates anywhere
and user seqs still running 1, 2, 3, ... .
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.e2e.client import Api, Json, User, conversation_id
from tests.e2e.conftest import StartServer
from tests.e2e.devices import (
    Devices,
    assert_user_seqs_contiguous,
    key,
    opened_devices,
    sync_all,
)
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

#: How long fan-out may take after a restart to replay the outbox into every timeline.
REPLAY_WITHIN_S = 15.0


@pytest.fixture
async def devices() -> AsyncIterator[Devices]:
    async with opened_devices() as opened:
        yield opened


@dataclass
class Sender:
    """One user sending round-robin to ``targets`` (``(to, session_type)``) until it fails."""

    user: User
    targets: list[tuple[int, str]]
    acked: list[Json] = field(default_factory=list)
    #: Sends without a 2xx answer: (to, session_type, client_msg_id), for the client to retry.
    unanswered: list[tuple[int, str, str]] = field(default_factory=list)

    async def run(self, api: Api) -> None:
        """Send until the server stops answering 2xx."""
        for n in range(100_000):
            to, session = self.targets[n % len(self.targets)]
            client_msg_id = f"{self.user.username}-{n}"
            try:
                response = await api.send_raw(
                    self.user, to, f"#{n}", session_type=session, client_msg_id=client_msg_id
                )
            except httpx.TransportError:
                response = None
            if response is None or not response.is_success:
                self.unanswered.append((to, session, client_msg_id))
                return
            self.acked.append(response.json())

    async def retry(self, api: Api) -> None:
        """Resend what went unanswered, with the same client_msg_id, as a client would."""
        for to, session, client_msg_id in self.unanswered:
            response = await api.send_raw(
                self.user, to, "retry", session_type=session, client_msg_id=client_msg_id
            )
            # 200: it had been stored before the server went away; 201: stored only now.
            assert response.status_code in {200, 201}, response.text
            self.acked.append(response.json())
        self.unanswered.clear()


async def send_until(
    api: Api, senders: list[Sender], acked_at_least: int, stop: Callable[[], None]
) -> None:
    """Run every sender and stop the server under them; wait until each has failed.

    ``stop`` runs in a thread once ``acked_at_least`` sends were acknowledged, while the
    senders keep going.
    """
    running = [asyncio.create_task(s.run(api)) for s in senders]
    deadline = time.monotonic() + 30
    while sum(len(s.acked) for s in senders) < acked_at_least:
        assert time.monotonic() < deadline, "senders are too slow"
        assert not any(t.done() for t in running), [t.result() for t in running if t.done()]
        await asyncio.sleep(0.02)
    await asyncio.to_thread(stop)
    await asyncio.wait_for(asyncio.gather(*running), 30)


async def histories(api: Api, readers: dict[str, User]) -> dict[str, list[Json]]:
    """Each conversation's whole history, read by one of its members."""
    return {conv: await api.history(user, conv) for conv, user in readers.items()}


async def assert_durable(
    api: Api,
    senders: list[Sender],
    readers: dict[str, User],
    members: dict[str, set[int]],
    app_users: list[User],
) -> dict[str, list[Json]]:
    """Every acknowledged message is in history once and in app timelines once; return history."""
    history = await histories(api, readers)
    everything = [m for messages in history.values() for m in messages]
    ids = Counter((m["sender_id"], m["client_msg_id"]) for m in everything)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    for conv, messages in history.items():
        seqs = [m["seq"] for m in messages]
        assert seqs == sorted(set(seqs)), (conv, seqs)
    stored = {key(m): m for m in everything}
    for sender in senders:
        for message in sender.acked:
            assert stored.get(key(message)) == message, message

    for user in app_users:
        expected = {key(m) for conv in history if user.id in members[conv] for m in history[conv]}
        entries = await timeline_with(api, user, len(expected))
        assert_user_seqs_contiguous(entries)
        keys = [key(e["message"]) for e in entries]
        assert len(keys) == len(set(keys)), f"{user.username}: duplicate timeline entries"
        assert set(keys) == expected, (
            f"{user.username}: missing {sorted(expected - set(keys))[:5]},"
            f" unexpected {sorted(set(keys) - expected)[:5]}"
        )
        assert all(e["message"] == stored[key(e["message"])] for e in entries)
    return history


async def timeline_with(api: Api, user: User, count: int) -> list[Json]:
    """The user's whole timeline once it holds ``count`` entries (replay runs after start)."""
    deadline = time.monotonic() + REPLAY_WITHIN_S
    while True:
        entries, latest = await sync_all(api, user, limit=200)
        assert latest == (entries[-1]["user_seq"] if entries else 0)
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.05)


@dataclass
class Crowd:
    """Ten senders (half of them app users) posting to a group and to two recipients."""

    app_recipient: User
    web_recipient: User
    senders: list[Sender]
    group_id: int
    readers: dict[str, User]
    members: dict[str, set[int]]

    @property
    def app_users(self) -> list[User]:
        """Everyone who has an app device, hence a timeline."""
        return [self.app_recipient] + [s.user for s in self.senders if s.user.client_type == "app"]

    @property
    def web_users(self) -> list[User]:
        """Everyone with only web devices."""
        return [self.web_recipient] + [s.user for s in self.senders if s.user.client_type == "web"]


async def crowd(api: Api, size: int = 10) -> Crowd:
    """Register the users, the group and each sender's targets."""
    app_recipient = await api.register_and_login("rapp", client_type="app")
    web_recipient = await api.register_and_login("rweb", client_type="web")
    users = [
        await api.register_and_login(f"snd{n}", client_type="app" if n % 2 else "web")
        for n in range(size)
    ]
    group = await api.create_group(app_recipient, "crowd", [web_recipient, *users])
    in_group = f"g:{group['id']}"
    readers = {in_group: app_recipient}
    members = {in_group: {app_recipient.id, web_recipient.id, *(u.id for u in users)}}
    senders = []
    for user in users:
        for recipient in (app_recipient, web_recipient):
            conv = conversation_id(user.id, recipient.id)
            readers[conv] = recipient
            members[conv] = {user.id, recipient.id}
        targets = [
            (group["id"], "group"),
            (app_recipient.id, "single"),
            (web_recipient.id, "single"),
        ]
        senders.append(Sender(user, targets))
    return Crowd(app_recipient, web_recipient, senders, group["id"], readers, members)


async def test_sigkill_during_concurrent_sends_loses_no_acknowledged_message(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    server = start_server()
    api = connect(server)
    users = await crowd(api)

    # SIGKILL while ten senders have requests in flight: no shutdown, nothing flushed.
    await send_until(api, users.senders, acked_at_least=150, stop=server.kill)
    assert all(len(s.unanswered) == 1 for s in users.senders)
    await asyncio.to_thread(server.start)

    # Clients retry what went unanswered; then everything acknowledged is there exactly once.
    for sender in users.senders:
        await sender.retry(api)
    history = await assert_durable(
        api, users.senders, users.readers, users.members, users.app_users
    )
    for user in users.web_users:
        assert await sync_all(api, user) == ([], 0)

    # Seqs go on where they were, and pushes work again.
    device = await devices.open(server, users.app_recipient)
    entries, latest = await sync_all(api, users.app_recipient)
    assert device.hello["latest_user_seq"] == latest == len(entries)
    after = await api.send_group(users.senders[0].user, users.group_id, "after the crash")
    assert after["seq"] == history[f"g:{users.group_id}"][-1]["seq"] + 1
    await device.wait_frames("message", 1)
    assert device.messages() == [{"type": "message", "message": after, "user_seq": latest + 1}]


async def test_sigterm_closes_sockets_1001_exits_0_and_keeps_every_acknowledged_message(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], devices: Devices
) -> None:
    server = start_server()
    api = connect(server)
    users = await crowd(api, size=4)
    app_web = await api.login(users.app_recipient.username, device_id="browser", client_type="web")
    online = [
        await devices.open(server, u)
        for u in (users.app_recipient, app_web, users.web_recipient, users.senders[0].user)
    ]
    exit_codes: list[int | None] = []

    def sigterm() -> None:
        exit_codes.append(server.stop())

    await send_until(api, users.senders, acked_at_least=40, stop=sigterm)

    # Every connected device was told the server is going away before the process ended.
    for device in online:
        close = await device.wait_closed(within_s=1)
        assert close is not None, f"{device.name}: closed without a close frame"
        assert close.code == 1001, (device.name, close)
        assert {r.type for r in device.received} <= {"hello", "message"}, device.name

    # A graceful stop is clean: nothing at error level (a failed shutdown logs a traceback).
    assert server.error_lines() == [], "the graceful stop logged an error"

    await asyncio.to_thread(server.start)
    await assert_durable(api, users.senders, users.readers, users.members, users.app_users)
    again = await devices.open(server, users.app_recipient)
    entries, latest = await sync_all(api, users.app_recipient)
    assert again.hello["latest_user_seq"] == latest == len(entries)

    # The README promises exit status 0 after a graceful stop; -15 means SIGTERM killed it.
    assert exit_codes == [0], (
        f"exit status {exit_codes} on SIGTERM"
        f" ({'killed by SIGTERM' if exit_codes == [-signal.SIGTERM] else 'unexpected'})"
    )
