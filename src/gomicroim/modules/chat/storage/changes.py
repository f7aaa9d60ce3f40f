"""The SQL adapter of :class:`MessageChangeStore`: recalls, edits and per-user hidden messages.

A change rewrites the message row under its lock, the conversation's last-message preview when
it is that message, and the message's outbox payload, so a recalled body is kept nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from tortoise.transactions import in_transaction

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.storage import Conversation, Hidden, Message, Outbox, _message, codec


class SqlMessageChangeStore:
    """``MessageChangeStore`` on the relational database (SQLite or MySQL/MariaDB)."""

    async def message(self, conversation_id: str, seq: int) -> MessageRead | None:
        """The stored message at ``seq``."""
        row = await Message.get_or_none(conversation_id=conversation_id, seq=seq)
        return _message(row) if row else None

    async def relayed(self, conversation_id: str, seq: int) -> bool:
        """Whether the message's committed event has left the outbox (or was pruned)."""
        pending = await Outbox.filter(
            conversation_id=conversation_id, seq=seq, published_at=None
        ).exists()
        return not pending

    async def change(
        self,
        conversation_id: str,
        seq: int,
        apply: Callable[[MessageRead], MessageRead | None],
        sender_device_id: str,
    ) -> tuple[MessageRead, bool] | None:
        """Rewrite the message with ``apply``'s result, in one transaction under its row lock.

        ``apply`` sees the stored message and returns the changed one, or ``None`` for no
        change; whatever it raises rolls back. Returns the message and whether it changed, or
        ``None`` when there is no such message.
        """
        async with in_transaction():
            row = (
                await Message.select_for_update()
                .filter(conversation_id=conversation_id, seq=seq)
                .first()
            )
            if row is None:
                return None
            current = _message(row)
            changed = apply(current)
            if changed is None:
                return current, False
            await Message.filter(id=row.id).update(
                body=changed.body,
                revision=changed.revision,
                edited_at=changed.edited_at,
                recalled=changed.recalled,
                recalled_by=changed.recalled_by,
                recalled_at=changed.recalled_at,
            )
            # The list's preview is the last message: it must not keep a recalled body.
            await Conversation.filter(id=conversation_id, last_seq=seq).update(
                last_message=codec.encode(changed)
            )
            event = MessageCommitted(message=changed, sender_device_id=sender_device_id)
            await Outbox.filter(conversation_id=conversation_id, seq=seq).update(
                payload=codec.encode(event)
            )
        return changed, True

    async def hide(self, user_id: int, conversation_id: str, seq: int, now_ms: int) -> None:
        """Hide one message from one user; hiding again changes nothing."""
        await Hidden.bulk_create(
            [Hidden(user_id=user_id, conversation_id=conversation_id, seq=seq, created_at=now_ms)],
            ignore_conflicts=True,
        )

    async def hidden(self, user_id: int, conversation_id: str, seqs: list[int]) -> set[int]:
        """Which of ``seqs`` the user has hidden in the conversation."""
        if not seqs:
            return set()
        found = await Hidden.filter(
            user_id=user_id, conversation_id=conversation_id, seq__in=seqs
        ).values_list("seq", flat=True)
        return {int(cast(int, s)) for s in found}
