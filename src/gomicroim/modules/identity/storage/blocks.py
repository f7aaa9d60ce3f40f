"""Blocks: their tortoise model and the SQL adapter of ``BlockStore``."""

from __future__ import annotations

from typing import cast

from tortoise import fields, models
from tortoise.exceptions import IntegrityError

from gomicroim.modules.identity.ports import BlockRecord


class Block(models.Model):
    """``blocker_id`` refuses single-chat messages from ``blocked_id``."""

    id = fields.BigIntField(primary_key=True)
    blocker_id = fields.BigIntField()
    blocked_id = fields.BigIntField()
    blocked_at = fields.BigIntField()

    class Meta:
        table = "identity_block"
        # Also the index of "whom has this user blocked" (its leading column).
        unique_together = (("blocker_id", "blocked_id"),)


def _block(row: Block) -> BlockRecord:
    return BlockRecord(
        id=row.id, blocker_id=row.blocker_id, blocked_id=row.blocked_id, blocked_at=row.blocked_at
    )


class SqlBlockStore:
    """``BlockStore`` on the relational database."""

    async def add(self, blocker_id: int, blocked_id: int, now_ms: int) -> tuple[BlockRecord, bool]:
        """Insert the block unless it exists; the unique pair settles races."""
        existing = await Block.get_or_none(blocker_id=blocker_id, blocked_id=blocked_id)
        if existing is not None:
            return _block(existing), False
        try:
            row = await Block.create(
                blocker_id=blocker_id, blocked_id=blocked_id, blocked_at=now_ms
            )
        except IntegrityError:
            # A concurrent block of the same pair won: its row is the block.
            return _block(await Block.get(blocker_id=blocker_id, blocked_id=blocked_id)), False
        return _block(row), True

    async def remove(self, blocker_id: int, blocked_id: int) -> bool:
        """Delete the block."""
        return bool(await Block.filter(blocker_id=blocker_id, blocked_id=blocked_id).delete())

    async def blocked_by(self, blocker_id: int) -> set[int]:
        """Every user ``blocker_id`` has blocked (one index range)."""
        ids = await Block.filter(blocker_id=blocker_id).values_list("blocked_id", flat=True)
        return {int(cast(int, i)) for i in ids}

    async def page(
        self, blocker_id: int, *, before_id: int | None, limit: int
    ) -> list[BlockRecord]:
        """Newest first, below ``before_id``."""
        rows = Block.filter(blocker_id=blocker_id)
        if before_id is not None:
            rows = rows.filter(id__lt=before_id)
        return [_block(r) for r in await rows.order_by("-id").limit(limit)]
