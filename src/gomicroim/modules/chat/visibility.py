"""Join-time history: which seqs of a group each member's membership spells let them see.

Pure rules, no I/O. A spell's window opens at the conversation's ``last_seq + 1`` when chat
syncs the new member's entry and closes at the ``last_seq`` when their entry goes: both under
the conversation's lock, so a message committed concurrently with a join falls wholly on one
side, the same side for history, the list and fan-out (sync).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec
from cachetools import LRUCache

from gomicroim.modules.chat.contract import MessageRead

FormerMemberHistory = Literal["none", "while_member"]


class SeqWindow(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """The seqs ``start`` to ``end`` (both included) of one spell; ``end`` None: still a member."""

    start: int
    end: int | None = None

    def holds(self, seq: int) -> bool:
        """Whether ``seq`` lies in the window."""
        return seq >= self.start and (self.end is None or seq <= self.end)


def readable(
    windows: Sequence[SeqWindow], *, member: bool, former: FormerMemberHistory
) -> list[SeqWindow]:
    """The windows whose messages a user may read, ascending, empty ones left out.

    A member reads their current spell; the spells before it only with ``while_member``,
    as a former member does. Without any window, the user reads nothing.
    """
    kept = [
        w
        for w in sorted(windows)
        if (w.end is None and member) or (w.end is not None and former == "while_member")
    ]
    return [w for w in kept if w.end is None or w.end >= w.start]


def current_start(windows: Sequence[SeqWindow]) -> int | None:
    """Where the open window starts; None if the user is in no spell."""
    return next((w.start for w in windows if w.end is None), None)


def visible_last(last: MessageRead | None, start: int) -> MessageRead | None:
    """A list entry's last message, unless it was sent before the member's window."""
    return last if last is not None and last.seq >= start else None


def floor_read_seq(read_seq: int, start: int) -> int:
    """A read seq never below the window: what came before the join counts as read."""
    return max(read_seq, start - 1)


class LateJoiners:
    """Per group, the members who joined after a seq, remembered for one membership version.

    Windows change only when a membership sync moves the group to a new version, so the open
    windows starting after some ``floor`` seq, read once at version V, answer the question for
    every later seq at V: the fan-out asks it for each group message, and a query each time
    was one database round trip per message on the fan-out's path.
    """

    def __init__(self, max_groups: int = 10_000):
        self._groups: LRUCache[str, tuple[int, int, dict[int, int]]] = LRUCache(max_groups)

    def after(self, conversation_id: str, version: int, seq: int) -> set[int] | None:
        """Who joined after ``seq`` at ``version``; None when not known without a query."""
        entry = self._groups.get(conversation_id)
        if entry is None:
            return None
        known_version, floor, starts = entry
        if known_version != version or seq < floor:
            return None
        return {user for user, start in starts.items() if start > seq}

    def remember(
        self, conversation_id: str, version: int, seq: int, starts: dict[int, int]
    ) -> set[int]:
        """Keep ``starts`` (open windows starting after ``seq`` at ``version``); who they are."""
        self._groups[conversation_id] = (version, seq, starts)
        return set(starts)
