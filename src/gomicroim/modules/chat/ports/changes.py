"""Ports of message changes: recall and edit storage, the own-timeline copy, hidden messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gomicroim.modules.chat.contract import MessageRead


class MessageChangeStore(Protocol):
    """Changes to stored messages and the messages users hid from themselves."""

    async def message(self, conversation_id: str, seq: int) -> MessageRead | None:
        """The stored message at ``seq`` of the conversation, if any."""
        ...

    async def relayed(self, conversation_id: str, seq: int) -> bool:
        """Whether the message's committed event has been handed to the bus."""
        ...

    async def change(
        self,
        conversation_id: str,
        seq: int,
        apply: Callable[[MessageRead], MessageRead | None],
        sender_device_id: str,
    ) -> tuple[MessageRead, bool] | None:
        """Rewrite the message with ``apply``'s answer atomically, under the message's lock.

        The conversation's last-message preview and the message's outbox payload are rewritten
        with it, so a recalled body stays nowhere. ``apply`` returning ``None`` changes nothing.

        Returns:
            The message as stored after the call and whether it changed; ``None`` if missing.
        """
        ...

    async def hide(self, user_id: int, conversation_id: str, seq: int, now_ms: int) -> None:
        """Hide a message from one user's history; idempotent."""
        ...

    async def hidden(self, user_id: int, conversation_id: str, seqs: list[int]) -> set[int]:
        """Which of ``seqs`` the user has hidden in the conversation."""
        ...


class OwnTimeline(Protocol):
    """The timeline's answer for a delete for me: drop the user's copies of a message."""

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Delete the user's timeline entries of the message; return how many went."""
        ...


class HiddenMessages(Protocol):
    """Which messages a user deleted for themselves (history leaves them out)."""

    async def hidden(self, user_id: int, conversation_id: str, seqs: list[int]) -> set[int]:
        """Which of ``seqs`` the user has hidden in the conversation."""
        ...
