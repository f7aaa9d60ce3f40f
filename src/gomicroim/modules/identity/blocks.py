"""BlocksService: implements :class:`BlocksFacade`, with every process's cache of block lists."""

from __future__ import annotations

import logging

from gomicroim.caching import Cache, CacheStats, Invalidations, invalidate_everywhere
from gomicroim.clock import Clock, now_ms
from gomicroim.errors import InvalidInput, NotFound
from gomicroim.modules.identity.contract import BlockPage, BlockRead, BlockResult
from gomicroim.modules.identity.ports import BlockRecord, BlocksChanged, BlockStore, UserStore

log = logging.getLogger("gomicroim.identity.blocks")

#: Block lists cached, weighed by their length (an empty list weighs one).
BLOCKED_IDS_CACHED = 200_000


class BlocksService:
    """Block lists: stored by identity, asked by chat on every single-chat send."""

    def __init__(
        self,
        *,
        blocks: BlockStore,
        users: UserStore,
        cache_ttl_s: float = 30.0,
        events: Invalidations[BlocksChanged] | None = None,
        cache_stats: CacheStats | None = None,
        clock: Clock = now_ms,
    ):
        self._blocks = blocks
        self._users = users
        self._clock = clock
        # Blocker → everyone they blocked: one entry answers every sender's check. A block or
        # unblock here invalidates at once, on other processes through ``events``; the TTL
        # bounds staleness when an event was lost.
        self._blocked: Cache[int, frozenset[int]] = Cache(
            "identity_blocks",
            max_size=BLOCKED_IDS_CACHED,
            ttl_s=cache_ttl_s,
            weigh=len,
            stats=cache_stats,
        )
        self._events = events
        if events is not None:
            events.subscribe(self._changed)
            events.on_gap(self._drop_cache)

    async def block(self, blocker_id: int, blocked_id: int) -> BlockResult:
        """Block a user; see :meth:`BlocksFacade.block`."""
        if blocker_id == blocked_id:
            raise InvalidInput("you cannot block yourself", code="cannot_block_self")
        await self._require_user(blocked_id)
        record, created = await self._blocks.add(blocker_id, blocked_id, self._clock())
        if created:
            await self._saved(blocker_id)
            log.info("user blocked", extra={"user_id": blocker_id, "blocked_id": blocked_id})
        return BlockResult(block=_read(record), created=created)

    async def unblock(self, blocker_id: int, blocked_id: int) -> bool:
        """Lift a block; see :meth:`BlocksFacade.unblock`."""
        await self._require_user(blocked_id)
        removed = await self._blocks.remove(blocker_id, blocked_id)
        if removed:
            await self._saved(blocker_id)
            log.info("user unblocked", extra={"user_id": blocker_id, "blocked_id": blocked_id})
        return removed

    async def blocks_of(self, blocker_id: int, *, limit: int, cursor: str | None) -> BlockPage:
        """A page of blocks; see :meth:`BlocksFacade.blocks_of`."""
        before = _parse_cursor(cursor)
        # One row past the page says whether another exists, without a count.
        rows = await self._blocks.page(blocker_id, before_id=before, limit=limit + 1)
        page = rows[:limit]
        return BlockPage(
            blocks=[_read(r) for r in page],
            next_cursor=str(page[-1].id) if len(rows) > limit and page else None,
        )

    async def is_blocked(self, blocker_id: int, blocked_id: int) -> bool:
        """Whether the block exists; see :meth:`BlocksFacade.is_blocked`."""
        blocked = await self._blocked.get_or_load(blocker_id, lambda: self._load(blocker_id))
        return blocked_id in blocked

    async def _load(self, blocker_id: int) -> frozenset[int]:
        return frozenset(await self._blocks.blocked_by(blocker_id))

    async def _require_user(self, user_id: int) -> None:
        if not await self._users.existing_ids({user_id}):
            raise NotFound(f"user {user_id} does not exist", code="user_not_found")

    async def _saved(self, blocker_id: int) -> None:
        event = BlocksChanged(blocker_id=blocker_id)
        await invalidate_everywhere(self._blocked, blocker_id, self._events, event)

    async def _changed(self, event: BlocksChanged) -> None:
        self._blocked.invalidate(event.blocker_id)

    async def _drop_cache(self) -> None:
        self._blocked.clear()
        log.info("block lists dropped after missed invalidations")


def _read(record: BlockRecord) -> BlockRead:
    return BlockRead(user_id=record.blocked_id, blocked_at=record.blocked_at)


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    # ASCII digits only: int() would also accept other scripts' digits, spaces and "_".
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 16:
        raise InvalidInput(
            "cursor: pass back the next_cursor of the previous page",
            code="invalid_field",
            field="cursor",
        )
    return int(cursor)
