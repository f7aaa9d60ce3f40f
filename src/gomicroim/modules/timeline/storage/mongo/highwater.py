"""The committed high-water mark of a user timeline whose appends are not transactions.

Without multi-document transactions an append takes its user seqs on the cursor document
first and writes the entries after, so a later seq can be written before an earlier one. A
reader must then not read past a seq still being written: it would skip it for good. Each
append records the seqs it took as *pending* in the same atomic update of the cursor, and
takes them off once its writes returned. Readers stop below the oldest live pending seq.

A pending allocation older than the lease belongs to an append that died or stalled. A reader
then *fences* its unwritten slots: it inserts a tombstone into each, and the unique
(user, user_seq) index makes the first insert win. An append that wakes up later finds its
slot taken and takes a new seq above, where every reader will still see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pending:
    """Seqs ``lo..hi`` of one user taken by the append ``token`` at ``at_ms``."""

    token: str
    lo: int
    hi: int
    at_ms: int

    def expired(self, now_ms: int, lease_ms: int) -> bool:
        """Whether the append had ``lease_ms`` to write its seqs and has not said it did."""
        return now_ms - self.at_ms >= lease_ms


@dataclass(frozen=True)
class CursorState:
    """A user's cursor document as one read saw it."""

    last_seq: int
    pending: tuple[Pending, ...] = ()

    def expired(self, now_ms: int, lease_ms: int) -> list[Pending]:
        """Pending allocations whose lease ran out: a reader fences them before reading on."""
        return [p for p in self.pending if p.expired(now_ms, lease_ms)]

    def committed_mark(self, now_ms: int, lease_ms: int) -> int:
        """The highest seq below which every slot is written or will never be.

        Live pending allocations hold it below their first seq; expired ones do not, because
        a reader fences them before it reads past them.
        """
        live = [p.lo - 1 for p in self.pending if not p.expired(now_ms, lease_ms)]
        return min([self.last_seq, *live])


def assign_slots(wanted: dict[int, list[int]], last: dict[int, int]) -> dict[int, dict[int, int]]:
    """Spread each user's newly taken seqs over the messages they need, in batch order.

    Args:
        wanted: user → indexes (in the batch) of the messages they get, in batch order.
        last: user → their cursor after taking ``len(wanted[user])`` seqs.

    Returns:
        user → {message index: user seq}; the seqs are ``last - n + 1 .. last``.
    """
    slots: dict[int, dict[int, int]] = {}
    for user, indexes in wanted.items():
        first = last[user] - len(indexes) + 1
        slots[user] = {index: first + offset for offset, index in enumerate(indexes)}
    return slots


def by_count(wanted: dict[int, list[int]]) -> dict[int, list[int]]:
    """Users grouped by how many seqs they need, so one update serves each group."""
    groups: dict[int, list[int]] = {}
    for user, indexes in sorted(wanted.items()):
        groups.setdefault(len(indexes), []).append(user)
    return groups


def spans(pending: Iterable[Pending]) -> list[int]:
    """Every seq the allocations cover, ascending."""
    return sorted({seq for p in pending for seq in range(p.lo, p.hi + 1)})
