"""Concurrent senders get unique, gap-free seqs; retried sends are idempotent."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from tests.e2e.client import Api, Json, User, conversation_id

pytestmark = pytest.mark.e2e

SENDERS = 50
PER_SENDER = 2


async def test_fifty_concurrent_group_senders_get_seqs_exactly_one_to_n(api: Api) -> None:
    users = await asyncio.gather(*(api.register_and_login(f"s{i}") for i in range(SENDERS)))
    owner, *members = users
    group = await api.create_group(owner, "crowd", members)
    assert group["member_count"] == SENDERS
    conv = f"g:{group['id']}"

    async def sender(user: User) -> list[Json]:
        # Each user fires both messages at once, so the server sees 100 sends in flight.
        return await asyncio.gather(
            *(
                api.send_group(user, group["id"], f"{user.id}:{n}", client_msg_id=f"m{n}")
                for n in range(PER_SENDER)
            )
        )

    replies = [m for batch in await asyncio.gather(*(sender(u) for u in users)) for m in batch]
    total = SENDERS * PER_SENDER
    # Seq 1 is the group_created system message.
    assert sorted(m["seq"] for m in replies) == list(range(2, total + 2))

    history = await api.history(users[7], conv, limit=30)
    assert [m["seq"] for m in history] == list(range(1, total + 2))
    assert history[0]["msg_type"] == "system"
    history = history[1:]
    assert Counter((m["sender_id"], m["client_msg_id"]) for m in history) == Counter(
        {(u.id, f"m{n}"): 1 for u in users for n in range(PER_SENDER)}
    )
    # What each sender was told is exactly what history holds.
    assert {m["seq"]: m for m in replies} == {m["seq"]: m for m in history}

    # Newest-first paging back from the end agrees too.
    page = await api.page(users[-1], conv, before_seq=total + 2, limit=100)
    assert [m["seq"] for m in page["messages"]] == list(range(2, total + 2))
    assert page["has_more"] is True  # the group_created message at seq 1

    # Every member's read position is their own newest message; unread counts the rest.
    last_own = {u.id: max(m["seq"] for m in replies if m["sender_id"] == u.id) for u in users}
    for user in users[:10]:
        entry = await api.conversation(user, conv)
        assert entry is not None
        assert entry["last_seq"] == total + 1
        assert entry["read_seq"] == last_own[user.id]
        assert entry["unread"] == total + 1 - last_own[user.id]


async def test_resending_a_client_msg_id_returns_the_first_message(api: Api) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    conv = conversation_id(alice.id, bob.id)

    first = await api.send_raw(alice, bob.id, "once", client_msg_id="retry-1")
    assert first.status_code == 201
    again = await api.send_raw(alice, bob.id, "once", client_msg_id="retry-1")
    assert again.status_code == 200
    assert again.json() == first.json()
    # Even with a changed body the stored original is the answer.
    changed = await api.send_raw(alice, bob.id, "edited", client_msg_id="retry-1")
    assert changed.status_code == 200
    assert changed.json() == first.json()

    # client_msg_id is per sender: Bob may use the same one.
    bobs = await api.send_raw(bob, alice.id, "mine", client_msg_id="retry-1")
    assert bobs.status_code == 201
    assert bobs.json()["seq"] == 2

    history = await api.history(bob, conv)
    assert [(m["seq"], m["body"]) for m in history] == [(1, "once"), (2, "mine")]
    entry = await api.conversation(bob, conv)
    assert entry is not None
    assert entry["last_seq"] == 2


@pytest.mark.parametrize("session_type", ["single", "group"])
async def test_concurrent_duplicates_store_one_message(api: Api, session_type: str) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    if session_type == "single":
        to, conv = bob.id, conversation_id(alice.id, bob.id)
    else:
        group = await api.create_group(bob, "g", [alice])
        to, conv = group["id"], f"g:{group['id']}"
    client_msg_id = uuid.uuid4().hex

    responses = await asyncio.gather(
        *(
            api.send_raw(alice, to, "dup", session_type=session_type, client_msg_id=client_msg_id)
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies)
    # In the group, seq 1 is the group_created system message.
    first = 1 if session_type == "single" else 2
    assert bodies[0]["seq"] == first

    # The duplicates used up no seq: the next message follows at once.
    follow_up = await api.send(alice, to, "next", session_type=session_type)
    assert follow_up["seq"] == first + 1
    history = [m for m in await api.history(bob, conv) if m["msg_type"] != "system"]
    assert [(m["seq"], m["body"]) for m in history] == [(first, "dup"), (first + 1, "next")]
    entry = await api.conversation(bob, conv)
    assert entry is not None
    assert (entry["last_seq"], entry["unread"]) == (first + 1, 2)
