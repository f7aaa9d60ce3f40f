"""Sending single and group messages and what recipients then see in their conversation lists."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.client import Api, conversation_id

pytestmark = pytest.mark.e2e

MESSAGE_FIELDS = {
    "conversation_id",
    "seq",
    "sender_id",
    "to",
    "session_type",
    "client_msg_id",
    "msg_type",
    "body",
    "created_at",
    # Message changes (recall, edit): revision 0, never edited, not recalled for a new one.
    "revision",
    "edited_at",
    "recalled",
    "recalled_by",
    "recalled_at",
}


async def tick() -> None:
    """Let the millisecond clock move so 'most recent first' is unambiguous."""
    await asyncio.sleep(0.01)


async def test_single_message_is_stored_and_shows_up_for_the_recipient(api: Api) -> None:
    alice = await api.register_and_login("alice", client_type="web")
    bob = await api.register_and_login("bob", client_type="app")
    conv = conversation_id(alice.id, bob.id)
    assert (await api.conversations(bob)) == {
        "conversations": [],
        "total_unread": 0,
        "next_before": None,
    }

    response = await api.send_raw(alice, bob.id, "hi bob 👋", client_msg_id="c-1", msg_type="text")
    assert response.status_code == 201, response.text
    message = response.json()
    assert set(message) == MESSAGE_FIELDS
    assert message["conversation_id"] == conv
    assert message["seq"] == 1
    assert message["sender_id"] == alice.id
    assert message["to"] == bob.id
    assert message["session_type"] == "single"
    assert message["client_msg_id"] == "c-1"
    assert message["body"] == "hi bob 👋"
    assert abs(message["created_at"] - time.time() * 1000) < 60_000

    bobs = await api.conversations(bob)
    assert bobs["total_unread"] == 1
    assert bobs["conversations"] == [
        {
            "conversation_id": conv,
            "session_type": "single",
            "peer_id": alice.id,
            "group_id": None,
            "last_seq": 1,
            "read_seq": 0,
            "unread": 1,
            # A preview: short bodies are whole.
            "last_message": {**message, "truncated": False},
            "updated_at": message["created_at"],
            # Alice's own send moved her read position to it.
            "peer_read_seq": 1,
            "dissolved": False,
            # Bob's own settings: not muted, not pinned.
            "muted_until": None,
            "pinned": False,
        }
    ]
    # The sender has read what they sent.
    alices = await api.conversations(alice)
    assert alices["total_unread"] == 0
    [entry] = alices["conversations"]
    assert (entry["peer_id"], entry["last_seq"], entry["read_seq"], entry["unread"]) == (
        bob.id,
        1,
        1,
        0,
    )

    reply = await api.send(bob, alice.id, "hi alice", msg_type="custom")
    assert reply["conversation_id"] == conv
    assert reply["seq"] == 2
    alice_entry = await api.conversation(alice, conv)
    assert alice_entry is not None
    assert alice_entry["last_message"] == {**reply, "truncated": False}
    assert (alice_entry["last_seq"], alice_entry["read_seq"], alice_entry["unread"]) == (2, 1, 1)
    bob_entry = await api.conversation(bob, conv)
    assert bob_entry is not None
    assert (bob_entry["read_seq"], bob_entry["unread"]) == (2, 0)
    assert [m["body"] for m in await api.history(alice, conv)] == ["hi bob 👋", "hi alice"]


async def test_group_messages_reach_every_members_conversation_list(api: Api) -> None:
    owner = await api.register_and_login("owner")
    ann = await api.register_and_login("ann", client_type="web")
    ben = await api.register_and_login("ben", client_type="desktop")
    group = await api.create_group(owner, "team", [ann, ben])
    conv = f"g:{group['id']}"
    # Listed for every member from the start, with the group_created system message (seq 1):
    # read for its actor, the owner; unread for the others.
    for user in (owner, ann, ben):
        entry = await api.conversation(user, conv)
        assert entry is not None
        assert (entry["last_seq"], entry["unread"]) == (1, 0 if user is owner else 1)
        assert entry["last_message"]["msg_type"] == "system"

    first = await api.send_group(owner, group["id"], "welcome", msg_type="text")
    assert (first["conversation_id"], first["seq"], first["to"]) == (conv, 2, group["id"])
    assert first["session_type"] == "group"
    second = await api.send_group(ann, group["id"], '{"lat": 1, "lng": 2}', msg_type="location")
    assert second["seq"] == 3

    expected = {owner.id: (3, 2, 1), ann.id: (3, 3, 0), ben.id: (3, 0, 3)}
    for user in (owner, ann, ben):
        entry = await api.conversation(user, conv)
        assert entry is not None
        assert entry["session_type"] == "group"
        assert entry["group_id"] == group["id"]
        assert entry["peer_id"] is None
        assert entry["last_message"] == {**second, "truncated": False}
        assert (entry["last_seq"], entry["read_seq"], entry["unread"]) == expected[user.id]
    assert [m["seq"] for m in await api.history(ben, conv)] == [1, 2, 3]


async def test_conversation_list_is_newest_first_with_total_unread(api: Api) -> None:
    me = await api.register_and_login("me")
    ann = await api.register_and_login("ann")
    ben = await api.register_and_login("ben")
    group = await api.create_group(ann, "g", [me, ben])
    with_ann = conversation_id(me.id, ann.id)
    with_ben = conversation_id(me.id, ben.id)
    in_group = f"g:{group['id']}"

    await api.send(ann, me.id, "1")
    await tick()
    await api.send(ben, me.id, "2")
    await api.send(ben, me.id, "3")
    await tick()
    await api.send_group(ann, group["id"], "4")
    await api.send_group(ben, group["id"], "5")
    await api.send_group(ann, group["id"], "6")

    listing = await api.conversations(me)
    order = [c["conversation_id"] for c in listing["conversations"]]
    assert order == [in_group, with_ben, with_ann]
    # The group's unread count includes Ann's group_created system message.
    assert [c["unread"] for c in listing["conversations"]] == [4, 2, 1]
    assert listing["total_unread"] == 7
    assert [c["last_message"]["body"] for c in listing["conversations"]] == ["6", "3", "1"]

    # Answering Ann moves that conversation to the top and reads it.
    await tick()
    await api.send(me, ann.id, "7")
    listing = await api.conversations(me)
    assert [c["conversation_id"] for c in listing["conversations"]] == [
        with_ann,
        in_group,
        with_ben,
    ]
    assert listing["total_unread"] == 6

    read = await api.mark_read(me, in_group, 4)
    assert read == {"conversation_id": in_group, "read_seq": 4, "last_seq": 4, "unread": 0}
    listing = await api.conversations(me)
    assert listing["total_unread"] == 2
    # Reading does not reorder: order follows message activity.
    assert [c["conversation_id"] for c in listing["conversations"]][1] == in_group


async def test_every_client_msg_type_is_accepted_and_round_trips(api: Api) -> None:
    alice = await api.register_and_login("alice")
    bob = await api.register_and_login("bob")
    kinds = ["text", "image", "file", "audio", "video", "location", "custom"]
    sent = [await api.send(alice, bob.id, f'{{"k": "{kind}"}}', msg_type=kind) for kind in kinds]
    history = await api.history(bob, conversation_id(alice.id, bob.id))
    assert history == sent
    assert [m["msg_type"] for m in history] == kinds
