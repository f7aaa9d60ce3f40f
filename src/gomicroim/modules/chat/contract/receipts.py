"""Who read a message: ``ReadReceiptsFacade`` and its page types."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec


class Reader(msgspec.Struct, kw_only=True):
    """A member who has read a message: how far they have read (at least the message's seq)."""

    user_id: int
    read_seq: int


class ReaderPage(msgspec.Struct, kw_only=True):
    """Who has read a message, a page at a time, and how many have and have not.

    ``readers`` are ordered by ``read_seq``, then ``user_id``, ascending. ``next_cursor`` is
    opaque: pass it back as ``cursor`` for the next page; null on the last page. The counts
    cover every current participant but the message's sender, not just this page.
    """

    conversation_id: str
    seq: int
    readers: list[Reader]
    next_cursor: str | None
    #: Participants (sender excluded) whose read position is at or past ``seq``.
    read_count: int
    #: Participants (sender excluded) whose read position is before ``seq``.
    unread_count: int


@runtime_checkable
class ReadReceiptsFacade(Protocol):
    """Who has read a message, from the participants' read positions."""

    async def readers(
        self,
        user_id: int,
        conversation_id: str,
        seq: int,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ReaderPage:
        """The participants but the sender who have read up to ``seq``, and the counts.

        ``limit`` defaults to ``chat.readers_page_limit`` and may be at most
        ``chat.readers_max_limit``; ``cursor`` is the ``next_cursor`` of the previous page.
        In a single chat the only candidate is the peer of the message's sender. Every
        participant who had read ``seq`` when paging began is on some page; one who reads on
        while a client pages may show up again with a higher ``read_seq``.

        Raises:
            InvalidInput: ``invalid_conversation_id``; ``invalid_field`` for a ``limit`` out
                of range or a ``cursor`` this server did not issue.
            Forbidden: ``not_a_participant`` (single chats) or ``not_a_member`` (groups,
                former members included).
            NotFound: ``group_not_found``, ``message_not_found`` (no message at ``seq``).
        """
        ...
