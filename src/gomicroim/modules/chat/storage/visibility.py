"""Visibility windows of group members (one row per membership spell) and their SQL adapter.

Rows are written by :meth:`SqlChatStore.sync_members` in its own transaction, under the
conversation's lock (see :func:`record_spells`); :class:`SqlVisibilityStore` reads them.
"""

from __future__ import annotations

from typing import cast

from tortoise import fields, models
from tortoise.indexes import Index

from gomicroim.modules.chat.visibility import SeqWindow


class VisibilityWindow(models.Model):
    """The seqs one member may see from one spell: ``start_seq`` to ``end_seq`` (null: open)."""

    id = fields.BigIntField(primary_key=True)
    conversation_id = fields.CharField(max_length=64)
    user_id = fields.BigIntField()
    start_seq = fields.BigIntField()
    end_seq = fields.BigIntField(null=True)
    joined_at = fields.BigIntField()
    left_at = fields.BigIntField(null=True)

    class Meta:
        table = "chat_visibility_window"
        # A user's spells in one conversation; a conversation's late joiners (fan-out).
        indexes = (
            Index(fields=("user_id", "conversation_id"), name="chat_window_user"),
            Index(fields=("conversation_id", "start_seq"), name="chat_window_start"),
        )


async def record_spells(
    conversation_id: str, last_seq: int, joined: list[int], left: list[int], now_ms: int
) -> None:
    """Open the joiners' windows at ``last_seq + 1`` and close the leavers' at ``last_seq``.

    Called inside the transaction that holds the conversation's lock, so no seq is allocated
    between reading ``last_seq`` and writing the windows.
    """
    if left:
        await VisibilityWindow.filter(
            conversation_id=conversation_id, user_id__in=left, end_seq=None
        ).update(end_seq=last_seq, left_at=now_ms)
    if joined:
        await VisibilityWindow.bulk_create(
            [
                VisibilityWindow(
                    conversation_id=conversation_id,
                    user_id=u,
                    start_seq=last_seq + 1,
                    joined_at=now_ms,
                )
                for u in joined
            ]
        )


class SqlVisibilityStore:
    """``VisibilityStore`` on the relational database."""

    async def windows(self, conversation_id: str, user_id: int) -> list[SeqWindow]:
        """Every spell of the user, oldest first."""
        rows = await VisibilityWindow.filter(
            user_id=user_id, conversation_id=conversation_id
        ).order_by("start_seq", "id")
        return [SeqWindow(start=r.start_seq, end=r.end_seq) for r in rows]

    async def current_starts(self, user_id: int, conversation_ids: list[str]) -> dict[str, int]:
        """Open windows' starts by conversation."""
        if not conversation_ids:
            return {}
        rows = await VisibilityWindow.filter(
            user_id=user_id, conversation_id__in=conversation_ids, end_seq=None
        ).values_list("conversation_id", "start_seq")
        return {str(c): int(s) for c, s in rows}

    async def joined_after(self, conversation_id: str, seq: int) -> dict[int, int]:
        """Users whose open window starts after ``seq``, with its start."""
        rows = await VisibilityWindow.filter(
            conversation_id=conversation_id, start_seq__gt=seq, end_seq=None
        ).values_list("user_id", "start_seq")
        return {int(cast(int, u)): int(cast(int, s)) for u, s in rows}
