"""What the timeline service needs: a store of per-user inboxes and their seq cursors."""

from __future__ import annotations

from typing import Protocol

from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import SyncPage


class TimelineStore(Protocol):
    """Per-user timelines: entries at user seqs, and each user's cursor (last user seq given).

    An entry is as old as its message: ``message.created_at`` is what :meth:`prune` compares.
    """

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        """Append ``message`` to each user's timeline, atomically.

        Users who already hold (conversation_id, seq, revision) keep the user seq they have;
        a later revision (a recall or an edit) is a new entry. Every other
        user gets the next seq of their timeline. Appends running concurrently for the same
        users never hand out a seq twice and leave no gaps.

        Returns:
            The user seq of the message for every user in ``user_ids``.
        """
        ...

    async def append_many(self, items: list[tuple[MessageRead, set[int]]]) -> list[dict[int, int]]:
        """:meth:`append` for several messages at once, atomically and in order.

        Returns:
            For each item, the user seq of its message for every user of the item.
        """
        ...

    async def sync(self, user_id: int, after: int, limit: int) -> SyncPage:
        """Up to ``limit`` entries with user seq above ``after``, ascending, and the latest seq.

        ``has_more`` is True when entries up to ``latest_seq`` lie beyond the page.
        """
        ...

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Delete the user's entries of one message, every revision; return how many went.

        A delete for me: the message no longer appears in the user's sync.
        """
        ...

    async def latest_seq(self, user_id: int) -> int:
        """The last user seq handed out to the user (0 if none); pruning never lowers it."""
        ...

    async def prune(self, older_than_ms: int) -> int:
        """Delete entries whose message is older than ``older_than_ms``; return how many went.

        Cursors stay: a user's next entry continues above their latest seq.
        """
        ...
