"""ChatService with blocks and ``chat.single_chat_policy``: refused sends store nothing."""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from gomicroim.errors import AppError, Forbidden
from gomicroim.modules.chat.contract import MessageSend, SendResult, SessionType
from gomicroim.modules.chat.service import ChatService, SingleChatPolicy
from gomicroim.modules.groups.contract import GroupCreate
from gomicroim.modules.groups.service import GroupsService
from gomicroim.modules.identity.blocks import BlocksService
from tests.fakes import (
    FakeClock,
    MemoryBlockStore,
    MemoryChatStore,
    MemoryGroupStore,
    MemoryUserStore,
)

NOW = 1_000_000
MAX_BODY = 1000


class World:
    def __init__(self, policy: SingleChatPolicy = "anyone") -> None:
        self.clock = FakeClock(NOW)
        self.users = MemoryUserStore()
        self.store = MemoryChatStore(on_commit=lambda events: None)
        self.groups = GroupsService(
            store=MemoryGroupStore(), users=self, max_members=100, clock=self.clock
        )
        self.blocks = BlocksService(blocks=MemoryBlockStore(), users=self.users, clock=self.clock)
        self.chat = ChatService(
            store=self.store,
            users=self,
            groups=self.groups,
            max_body_bytes=MAX_BODY,
            clock=self.clock,
            blocks=self.blocks,
            single_chat_policy=policy,
        )

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        return await self.users.existing_ids(user_ids)

    async def user(self, name: str) -> int:
        created = await self.users.create(
            username=name, nickname=name, password_hash="h", now_ms=NOW
        )
        return created.id

    async def send(
        self, sender: int, to: int, client_msg_id: str, session_type: SessionType = "single"
    ) -> SendResult:
        request = MessageSend(
            to=to,
            session_type=session_type,
            client_msg_id=client_msg_id,
            msg_type="text",
            body="hi",
        )
        return await self.chat.send(sender, f"dev-{sender}", request)

    async def listed(self, user: int) -> list[tuple[str, int]]:
        listing = await self.chat.conversations(user)
        return [(c.conversation_id, c.last_seq) for c in listing.conversations]


async def refused(call: Awaitable[object], code: str) -> AppError:
    with pytest.raises(Forbidden) as err:
        await call
    assert (err.value.status, err.value.code, err.value.field) == (403, code, "to")
    return err.value


async def test_a_blocked_sender_is_refused_and_nothing_is_stored() -> None:
    world = World()
    alice, bob = await world.user("alice"), await world.user("bob")
    await world.blocks.block(bob, alice)

    await refused(world.send(alice, bob, "c1"), "blocked")

    assert world.store.outbox == []
    assert await world.listed(bob) == []
    assert await world.listed(alice) == []
    assert await world.store.find_sent(alice, "c1") is None


async def test_the_blocker_cannot_write_to_the_user_they_blocked() -> None:
    world = World()
    alice, bob = await world.user("alice"), await world.user("bob")
    await world.blocks.block(bob, alice)

    await refused(world.send(bob, alice, "c1"), "you_blocked_user")

    assert world.store.outbox == []


async def test_after_unblocking_sends_go_through_with_no_seq_used_up() -> None:
    world = World()
    alice, bob = await world.user("alice"), await world.user("bob")
    first = await world.send(alice, bob, "c1")
    await world.blocks.block(bob, alice)
    await refused(world.send(alice, bob, "c2"), "blocked")
    await refused(world.send(bob, alice, "c3"), "you_blocked_user")

    await world.blocks.unblock(bob, alice)
    after = await world.send(alice, bob, "c2")
    reply = await world.send(bob, alice, "c3")

    assert (first.message.seq, after.message.seq, reply.message.seq) == (1, 2, 3)
    assert await world.listed(bob) == [(first.message.conversation_id, 3)]


async def test_a_retry_of_a_send_stored_before_the_block_answers_with_it() -> None:
    world = World()
    alice, bob = await world.user("alice"), await world.user("bob")
    first = await world.send(alice, bob, "c1")
    await world.blocks.block(bob, alice)

    again = await world.send(alice, bob, "c1")

    assert not again.created
    assert again.message == first.message
    assert len(world.store.outbox) == 1


async def test_a_block_leaves_other_peers_and_group_messages_alone() -> None:
    world = World()
    alice, bob, carol = await world.user("alice"), await world.user("bob"), await world.user("c")
    group = await world.groups.create(bob, GroupCreate(name="g", member_ids=[alice, carol]))
    await world.blocks.block(bob, alice)

    in_group = await world.send(alice, group.id, "g1", session_type="group")
    to_carol = await world.send(alice, carol, "c1")
    from_carol = await world.send(carol, bob, "c2")

    assert [in_group.created, to_carol.created, from_carol.created] == [True, True, True]
    # Seq 1 is the group_created system message.
    assert (f"g:{group.id}", 2) in await world.listed(bob)


async def test_shared_group_policy_refuses_strangers_and_allows_group_mates() -> None:
    world = World("shared_group")
    alice, bob, carol = await world.user("alice"), await world.user("bob"), await world.user("c")
    await world.groups.create(alice, GroupCreate(name="g", member_ids=[bob]))

    await refused(world.send(alice, carol, "c1"), "no_shared_group")
    await refused(world.send(carol, alice, "c2"), "no_shared_group")
    sent = await world.send(alice, bob, "c3")

    assert sent.created
    assert await world.listed(carol) == []
    # The group's group_created system message and c3.
    assert [e.message.msg_type for e in world.store.outbox] == ["system", "text"]


async def test_shared_group_policy_ends_a_conversation_when_the_last_group_goes() -> None:
    world = World("shared_group")
    alice, bob = await world.user("alice"), await world.user("bob")
    group = await world.groups.create(alice, GroupCreate(name="g", member_ids=[bob]))
    before = await world.send(alice, bob, "c1")

    await world.groups.remove_member(group.id, bob, bob)

    await refused(world.send(alice, bob, "c2"), "no_shared_group")
    await refused(world.send(bob, alice, "c3"), "no_shared_group")
    assert await world.listed(bob) == [(before.message.conversation_id, 1)]


async def test_a_dissolved_group_is_not_shared() -> None:
    world = World("shared_group")
    alice, bob = await world.user("alice"), await world.user("bob")
    group = await world.groups.create(alice, GroupCreate(name="g", member_ids=[bob]))
    await world.groups.dissolve(group.id, alice)

    await refused(world.send(alice, bob, "c1"), "no_shared_group")


async def test_a_block_outranks_a_shared_group() -> None:
    world = World("shared_group")
    alice, bob = await world.user("alice"), await world.user("bob")
    await world.groups.create(alice, GroupCreate(name="g", member_ids=[bob]))
    await world.blocks.block(bob, alice)

    await refused(world.send(alice, bob, "c1"), "blocked")
