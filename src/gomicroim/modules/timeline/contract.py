"""The timeline module's public face: ``TimelineFacade`` and its wire types."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.chat.contract import MessageRead


class TimelineEntry(msgspec.Struct, kw_only=True):
    """One message in one user's timeline, at its user seq."""

    user_seq: int
    message: MessageRead
    #: ``message``: a new message; ``recall`` / ``edit``: ``message`` replaces the one at its
    #: seq (its ``revision`` is higher).
    kind: EntryKind = "message"


EntryKind = Literal["message", "recall", "edit"]


def entry_kind(revision: int, message: MessageRead) -> EntryKind:
    """What an entry stored at ``revision`` of its message tells the client."""
    if revision == 0:
        return "message"
    return "recall" if message.recalled else "edit"


class SyncPage(msgspec.Struct, kw_only=True):
    """``GET /sync`` answer: entries after the cursor in user-seq order."""

    entries: list[TimelineEntry]
    latest_seq: int
    has_more: bool


@runtime_checkable
class TimelineFacade(Protocol):
    """Per-user inboxes: strictly increasing user seq, idempotent appends, expiry."""

    async def append(self, message: MessageRead, user_ids: set[int]) -> dict[int, int]:
        """Append ``message`` to each user's timeline.

        Idempotent per (user, conversation, seq, revision): appending the same message again
        returns the user seq it already has and adds nothing. A later revision of the message
        (recalled or edited) is a new entry, and the user's older entries of it take its text.

        Returns:
            The user seq of the message in each user's timeline.
        """
        ...

    async def append_many(self, items: list[tuple[MessageRead, set[int]]]) -> list[dict[int, int]]:
        """:meth:`append` for several messages at once, in order; cheaper than one by one.

        Returns:
            For each item, the user seq of its message for every user of the item.
        """
        ...

    async def sync(self, user_id: int, after: int, limit: int | None = None) -> SyncPage:
        """Entries with user seq greater than ``after``, oldest first, at most ``limit``.

        Raises:
            InvalidInput: ``invalid_field`` for a negative ``after`` or a ``limit`` outside
                1..``timeline.max_sync_page`` (``None`` means ``timeline.default_sync_page``).
        """
        ...

    async def forget(self, user_id: int, conversation_id: str, seq: int) -> int:
        """Delete the user's entries of one message (a delete for me); return how many went."""
        ...

    async def latest_seq(self, user_id: int) -> int:
        """The user's highest user seq (0 when the timeline is empty)."""
        ...

    async def prune(self, older_than_ms: int) -> int:
        """Delete entries created before ``older_than_ms``; return how many went."""
        ...
