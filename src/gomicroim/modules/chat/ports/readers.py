"""Ports of who read a message: the reader store and its positions and counts."""

from __future__ import annotations

from typing import Annotated, Protocol

import msgspec


class ReaderPosition(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """An entry's place in a reader list, which runs by ``read_seq``, then ``user_id``, up."""

    read_seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    user_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class ReadCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Entries of a conversation (one user left out) and how many are read below a seq."""

    total: int
    unread: int


class ReaderStore(Protocol):
    """Read receipts, derived from the conversation entries' read positions.

    No row per message and reader: a user has read a message when their entry's ``read_seq``
    is at or past its seq. A group's entries mirror its membership (``sync_members``).
    """

    async def sender_of(self, conversation_id: str, seq: int) -> int | None:
        """The sender of the message at ``seq``, or ``None`` when there is none."""
        ...

    async def readers(
        self,
        conversation_id: str,
        seq: int,
        *,
        exclude: int,
        after: ReaderPosition | None,
        limit: int,
    ) -> list[ReaderPosition]:
        """Entries read up to ``seq`` or further, but ``exclude``'s, in reader-list order.

        Only entries positioned after ``after`` when it is given; at most ``limit``. The
        page is cut by the database through the ``(conversation_id, read_seq, user_id)``
        index, so it reads about ``limit`` index entries however large the group.
        """
        ...

    async def read_counts(self, conversation_id: str, seq: int, *, exclude: int) -> ReadCounts:
        """How many entries there are, ``exclude``'s left out, and how many are below ``seq``."""
        ...

    async def read_positions(self, conversation_id: str) -> dict[int, int]:
        """Every entry's read seq by user id (the slow path when entries and members differ)."""
        ...
