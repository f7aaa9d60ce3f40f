"""Senders that disconnect right after sending: every message the server stored still arrives.

Each send is written on a raw socket that is closed at once, without reading the reply, as a
phone losing its network does. Whatever the server committed must reach the recipient's
``/sync`` and both histories; a retry of the same client_msg_id answers with the stored one.
(uvicorn does not cancel a handler whose client left, so this passes on a server without the
committer's handover too; the unit and contract tests reproduce the cancellation itself.)
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable

from tests.e2e.client import Api, User, conversation_id
from tests.e2e.devices import sync_all
from tests.e2e.server import ServerProcess

SENDS = 40


async def send_and_vanish(server: ServerProcess, sender: User, to: int, client_msg_id: str) -> None:
    body = json.dumps(
        {
            "to": to,
            "session_type": "single",
            "client_msg_id": client_msg_id,
            "msg_type": "text",
            "body": f"sent by {client_msg_id}",
        }
    ).encode()
    head = (
        "POST /api/v1/messages HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {sender.access_token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head + body)
    await writer.drain()
    writer.close()  # gone before the reply
    await writer.wait_closed()


async def test_sends_whose_clients_vanished_reach_sync_and_history(
    server: ServerProcess, connect: Callable[[ServerProcess], Api]
) -> None:
    api = connect(server)
    alice = await api.register_and_login("alice", client_type="app")
    bob = await api.register_and_login("bob", client_type="app")
    ids = [uuid.uuid4().hex for _ in range(SENDS)]

    await asyncio.gather(*(send_and_vanish(server, alice, bob.id, i) for i in ids))

    conv = conversation_id(alice.id, bob.id)
    deadline = time.monotonic() + 20
    while True:
        history = await api.history(bob, conv)
        entries, _ = await sync_all(api, bob)
        synced = {e["message"]["client_msg_id"] for e in entries}
        stored = {m["client_msg_id"] for m in history}
        if len(stored) == SENDS and synced == stored:
            break
        assert time.monotonic() < deadline, (
            f"{len(stored)} of {SENDS} stored, {len(stored - synced)} stored but not in /sync"
        )
        await asyncio.sleep(0.1)

    assert stored == set(ids)
    assert [m["seq"] for m in history] == list(range(1, SENDS + 1))
    assert [m["seq"] for m in await api.history(alice, conv)] == list(range(1, SENDS + 1))
    # The sender, reconnected, retries one it never heard back about: the stored message.
    replay = await api.send_raw(alice, bob.id, client_msg_id=ids[0], body="retry")
    assert replay.status_code == 200, replay.text
    assert replay.json()["body"] == f"sent by {ids[0]}"
    assert server.error_lines() == []
