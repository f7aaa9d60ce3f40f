"""Committed events published out of order by different replicas reach devices in seq order."""

from __future__ import annotations

import msgspec

from gomicroim.errors import Forbidden
from gomicroim.fanout.ordering import ConversationOrder
from gomicroim.modules.chat.contract import HistoryPage, MessageCommitted, MessageRead


def committed(seq: int, conv: str = "g:1", device: str = "phone") -> MessageCommitted:
    message = MessageRead(
        conversation_id=conv, seq=seq, sender_id=7, to=1, session_type="group",
        client_msg_id=f"c{seq}", msg_type="text", body=f"m{seq}", created_at=1000 + seq,
    )  # fmt: skip
    return MessageCommitted(message=message, sender_device_id=device)


class History:
    """What the database holds: every committed seq of g:1 up to ``last``."""

    def __init__(self, last: int):
        self.last = last
        self.reads: list[tuple[int, str, int, int]] = []

    async def __call__(self, user_id: int, conv: str, after: int, limit: int) -> HistoryPage:
        self.reads.append((user_id, conv, after, limit))
        seqs = range(after + 1, min(after + limit, self.last) + 1)
        return HistoryPage(
            conversation_id=conv, messages=[committed(s).message for s in seqs], has_more=False
        )


def seqs(events: list[MessageCommitted]) -> list[tuple[str, int]]:
    return [(e.message.conversation_id, e.message.seq) for e in events]


async def test_a_seq_that_overtook_its_predecessor_is_preceded_by_it_from_history() -> None:
    history = History(last=5)
    order = ConversationOrder(history)
    first = await order.arrange([committed(1), committed(2)])
    order.handled(first)

    # Replica B's relay published 4 and 5 before replica A's published 3.
    ahead = await order.arrange([committed(5), committed(4)])
    order.handled(ahead)
    late = await order.arrange([committed(3)])

    assert seqs(ahead) == [("g:1", 3), ("g:1", 4), ("g:1", 5)]
    assert ahead[0].sender_device_id == ""  # unknown from history: nobody's push is skipped
    assert ahead[1].sender_device_id == "phone"
    assert history.reads == [(7, "g:1", 2, 1)]
    assert late == []  # already fanned out from history


async def test_redeliveries_are_dropped_but_a_failed_batch_is_arranged_again() -> None:
    order = ConversationOrder(History(last=3))
    batch = [committed(1), committed(2), committed(2, conv="s:1:7")]
    assert seqs(await order.arrange(batch)) == seqs(batch)
    # The fan-out failed: nothing was remembered, the retry gets the same events.
    assert seqs(await order.arrange(batch)) == seqs(batch)
    order.handled(batch)
    assert await order.arrange([committed(1), committed(2)]) == []
    assert seqs(await order.arrange([committed(3)])) == [("g:1", 3)]


async def test_seqs_older_than_the_first_one_seen_are_fanned_out_as_they_come() -> None:
    # A worker that took the partition over at seq 5 knows nothing of 1..4: a late 3 must
    # still reach the timelines (and sync), even though a device already past it drops it.
    order = ConversationOrder(History(last=9))
    order.handled(await order.arrange([committed(5)]))
    assert seqs(await order.arrange([committed(3)])) == [("g:1", 3)]
    order.handled([committed(3)])
    assert seqs(await order.arrange([committed(4)])) == [("g:1", 4)]


async def test_a_gap_nobody_committed_or_can_read_is_left_to_the_clients_pull() -> None:
    async def refused(user_id: int, conv: str, after: int, limit: int) -> HistoryPage:
        raise Forbidden("gone", code="not_a_member")

    empty = ConversationOrder(History(last=1))
    empty.handled(await empty.arrange([committed(1)]))
    assert seqs(await empty.arrange([committed(3)])) == [("g:1", 3)]  # 2 failed before commit

    order = ConversationOrder(refused)
    order.handled(await order.arrange([committed(1)]))
    assert seqs(await order.arrange([committed(4)])) == [("g:1", 4)]


async def test_a_recall_or_edit_of_a_fanned_out_seq_goes_out_after_the_messages() -> None:
    # A change re-announces its message's seq: neither a replay to drop nor a gap to fill.
    history = History(last=4)
    order = ConversationOrder(history)
    order.handled(await order.arrange([committed(1), committed(2)]))
    recall = msgspec.structs.replace(committed(1), change="recall", actor_id=7)
    edit = msgspec.structs.replace(committed(4), change="edit", actor_id=7)

    arranged = await order.arrange([recall, committed(3), edit, committed(4)])

    assert [(e.message.seq, e.change) for e in arranged] == [
        (3, None), (4, None), (1, "recall"), (4, "edit"),
    ]  # fmt: skip
    assert history.reads == []
    order.handled(arranged)
    assert await order.arrange([committed(4)]) == []  # the message itself is still a replay
