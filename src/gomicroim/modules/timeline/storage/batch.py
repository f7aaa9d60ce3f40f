"""What every timeline adapter does with a batch before and after storing it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

from gomicroim.modules.chat.contract import MessageRead

S = TypeVar("S", bound=Sequence[Any])

Items = list[tuple[MessageRead, set[int]]]
#: (conversation_id, seq) → user → user seq
Results = dict[tuple[str, int], dict[int, int]]


def chunks(items: S, size: int) -> Iterator[S]:
    """``items`` in consecutive slices of at most ``size`` (statement and ``$in`` limits)."""
    for start in range(0, len(items), size):
        # A list's slice is a list, a tuple's a tuple: the same kind of sequence.
        yield cast(S, items[start : start + size])


def unique_messages(items: Items) -> dict[tuple[str, int], tuple[MessageRead, set[int]]]:
    """The batch with each message once: a message twice (a replayed event) is one entry per user.

    Returns:
        (conversation_id, seq) → the message and the union of its users, in batch order.
    """
    unique: dict[tuple[str, int], tuple[MessageRead, set[int]]] = {}
    for message, users in items:
        unique.setdefault((message.conversation_id, message.seq), (message, set()))[1].update(users)
    return unique


def answer(items: Items, seqs: Results) -> list[dict[int, int]]:
    """For each item of the batch as given, the user seq of its message for each of its users."""
    return [{u: seqs[(m.conversation_id, m.seq)][u] for u in users} for m, users in items]
