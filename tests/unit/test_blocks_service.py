"""BlocksService over fakes: the rules of blocking, the list, and the cached check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from gomicroim.errors import AppError, InvalidInput, NotFound
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.identity.blocks import BlocksService
from gomicroim.modules.identity.ports import BlockRecord, BlocksChanged
from tests.fakes import FakeClock, MemoryBlockStore, MemoryUserStore

NOW = 1_700_000_000_000


class CountingBlockStore(MemoryBlockStore):
    """Counts the block-list loads, to see what the cache saves."""

    loads = 0

    async def blocked_by(self, blocker_id: int) -> set[int]:
        self.loads += 1
        return await super().blocked_by(blocker_id)


class GappyBroadcast(LocalBroadcast[BlocksChanged]):
    """An in-process broadcast that can report lost events, as a reconnecting broker does."""

    def __init__(self) -> None:
        super().__init__("identity.blocks")
        self._gap_handlers: list[Callable[[], Awaitable[None]]] = []

    def on_gap(self, handler: Callable[[], Awaitable[None]]) -> None:
        self._gap_handlers.append(handler)

    async def gap(self) -> None:
        for handler in self._gap_handlers:
            await handler()


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.users = MemoryUserStore()
        self.store = CountingBlockStore()
        self.events = GappyBroadcast()

    def service(self, *, events: bool = True) -> BlocksService:
        return BlocksService(
            blocks=self.store,
            users=self.users,
            events=self.events if events else None,
            clock=self.clock,
        )

    async def user(self, name: str) -> int:
        return (
            await self.users.create(username=name, nickname=name, password_hash="h", now_ms=NOW)
        ).id


@pytest.fixture
def world() -> World:
    return World()


async def fails(call: Awaitable[object], kind: type[AppError], code: str) -> AppError:
    with pytest.raises(kind) as err:
        await call
    assert err.value.code == code
    return err.value


async def test_blocking_is_idempotent_and_keeps_the_first_time(world: World) -> None:
    blocks = world.service()
    alice, bob = await world.user("alice"), await world.user("bob")

    first = await blocks.block(alice, bob)
    world.clock.advance(5000)
    again = await blocks.block(alice, bob)

    assert first.created
    assert not again.created
    assert first.block == again.block
    assert (first.block.user_id, first.block.blocked_at) == (bob, NOW)
    assert await blocks.is_blocked(alice, bob)
    # One way: bob has blocked nobody.
    assert not await blocks.is_blocked(bob, alice)


async def test_blocking_oneself_is_refused_and_stores_nothing(world: World) -> None:
    blocks = world.service()
    alice = await world.user("alice")

    err = await fails(blocks.block(alice, alice), InvalidInput, "cannot_block_self")

    assert err.status == 400
    assert world.store.blocks == {}


async def test_unknown_users_cannot_be_blocked_or_unblocked(world: World) -> None:
    blocks = world.service()
    alice = await world.user("alice")

    err = await fails(blocks.block(alice, 987), NotFound, "user_not_found")
    assert err.status == 404
    await fails(blocks.unblock(alice, 987), NotFound, "user_not_found")
    assert world.store.blocks == {}


async def test_unblocking_is_idempotent(world: World) -> None:
    blocks = world.service()
    alice, bob = await world.user("alice"), await world.user("bob")
    await blocks.block(alice, bob)

    assert await blocks.unblock(alice, bob)
    assert not await blocks.unblock(alice, bob)
    assert not await blocks.is_blocked(alice, bob)


async def test_the_list_pages_newest_first(world: World) -> None:
    blocks = world.service()
    alice = await world.user("alice")
    others = [await world.user(f"user{i}") for i in range(5)]
    for user in others:
        world.clock.advance(10)
        await blocks.block(alice, user)

    first = await blocks.blocks_of(alice, limit=2, cursor=None)
    second = await blocks.blocks_of(alice, limit=2, cursor=first.next_cursor)
    last = await blocks.blocks_of(alice, limit=2, cursor=second.next_cursor)

    listed = [b.user_id for page in (first, second, last) for b in page.blocks]
    assert listed == others[::-1]
    assert last.next_cursor is None
    assert [b.blocked_at for b in first.blocks] == [NOW + 50, NOW + 40]
    assert (await blocks.blocks_of(others[0], limit=10, cursor=None)).blocks == []


@pytest.mark.parametrize("cursor", ["abc", "-1", "١٢", "1" * 17, ""])
async def test_a_cursor_the_server_did_not_issue_is_refused(world: World, cursor: str) -> None:
    blocks = world.service()
    alice = await world.user("alice")

    err = await fails(
        blocks.blocks_of(alice, limit=2, cursor=cursor), InvalidInput, "invalid_field"
    )
    assert err.field == "cursor"


async def test_checks_are_answered_from_the_cache_until_the_list_changes(world: World) -> None:
    blocks = world.service()
    alice, bob, carol = await world.user("alice"), await world.user("bob"), await world.user("c")

    for _ in range(10):
        assert not await blocks.is_blocked(alice, bob)
        assert not await blocks.is_blocked(alice, carol)
    assert world.store.loads == 1

    await blocks.block(alice, bob)
    assert await blocks.is_blocked(alice, bob)
    await blocks.unblock(alice, bob)
    assert not await blocks.is_blocked(alice, bob)
    assert world.store.loads == 3


async def test_a_block_on_one_process_takes_effect_on_another_at_once(world: World) -> None:
    here, there = world.service(), world.service()
    alice, bob = await world.user("alice"), await world.user("bob")
    assert not await there.is_blocked(alice, bob)  # cached "not blocked" there

    await here.block(alice, bob)
    assert await there.is_blocked(alice, bob)

    await here.unblock(alice, bob)
    assert not await there.is_blocked(alice, bob)


async def test_missed_invalidations_drop_every_cached_list(world: World) -> None:
    there = world.service()
    alice, bob = await world.user("alice"), await world.user("bob")
    assert not await there.is_blocked(alice, bob)
    # A block another process made while this one's broker connection was down.
    world.store.blocks[alice, bob] = BlockRecord(
        id=1, blocker_id=alice, blocked_id=bob, blocked_at=NOW
    )
    assert not await there.is_blocked(alice, bob)

    await world.events.gap()

    assert await there.is_blocked(alice, bob)


async def test_without_a_cache_ttl_every_check_reads_the_store(world: World) -> None:
    blocks = BlocksService(blocks=world.store, users=world.users, cache_ttl_s=0)
    alice, bob = await world.user("alice"), await world.user("bob")

    for _ in range(3):
        assert not await blocks.is_blocked(alice, bob)
    assert world.store.loads == 3
