"""Committed messages put back in seq order per conversation before they are fanned out.

Every replica's outbox relay publishes the sends that replica committed, so two replicas
sending into one conversation can put seq 4 on the committed topic before seq 3: commits
happen in seq order (a conversation's seq is taken under its row lock), publishes do not.
Pushed as they come, a device would see 4 and then never 3 (its gateway drops a push whose
seq is not above the last one, as a replay). So the worker remembers the last seq it fanned
out per conversation: a seq at or below it has been handled (a redelivery, or a late event
already filled in); a seq above the next one means the messages between were committed and
not yet seen, and they are read from history and fanned out first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from gomicroim.errors import Forbidden, NotFound
from gomicroim.modules.chat.contract import ChatFacade, HistoryPage, MessageCommitted

log = logging.getLogger("gomicroim.fanout")

#: ``history(user_id, conversation_id, after_seq, limit)``: committed messages after a seq.
ReadAfter = Callable[[int, str, int, int], Awaitable[HistoryPage]]
#: Conversations whose last seq is remembered (least recently used ones are forgotten).
MAX_CONVERSATIONS = 100_000
#: The most messages read back for one gap; a larger gap is left to the clients' pull.
MAX_GAP_FILL = 200


class ConversationOrder:
    """Puts batches of committed events in seq order and fills gaps from history."""

    def __init__(self, read_after: ReadAfter | None, max_remembered: int = MAX_CONVERSATIONS):
        self._read_after = read_after
        #: conversation -> (first seq this worker fanned out, last seq it fanned out).
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._max = max_remembered

    async def arrange(self, events: list[MessageCommitted]) -> list[MessageCommitted]:
        """The events to fan out, in seq order per conversation, with gaps filled.

        Nothing is remembered until :meth:`handled`: a batch that fails is arranged again.
        A seq below the first one this worker saw of its conversation is fanned out as it
        comes: nobody here knows whether it was (its timeline entries must be written).
        """
        last: dict[str, int] = {}
        out: list[MessageCommitted] = []
        # A recall or edit re-announces a seq already fanned out: it is neither a replay nor
        # a gap. It is published only after its message was, so it goes after the messages.
        changes = [e for e in events if e.change is not None]
        messages = [e for e in events if e.change is None]
        for event in sorted(messages, key=lambda e: (e.message.conversation_id, e.message.seq)):
            conv, seq = event.message.conversation_id, event.message.seq
            first, previous = self._seen.get(conv, (seq, 0))
            previous = last.get(conv, previous)
            if previous and first <= seq <= previous:
                continue
            if previous and seq > previous + 1:
                out.extend(await self._fill(event, previous))
            out.append(event)
            last[conv] = max(seq, previous)
        return out + changes

    def handled(self, events: list[MessageCommitted]) -> None:
        """Remember what ``events`` (fanned out now) covered of each conversation."""
        for event in events:
            if event.change is not None:
                continue
            conv, seq = event.message.conversation_id, event.message.seq
            # The first seq stays: older ones fanned out later leave holes below it unknown.
            first, previous = self._seen.get(conv, (seq, seq))
            self._seen[conv] = (first, max(previous, seq))
            self._seen.move_to_end(conv)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)

    async def _fill(self, event: MessageCommitted, previous: int) -> list[MessageCommitted]:
        if self._read_after is None:
            return []
        message = event.message
        missing = min(message.seq - previous - 1, MAX_GAP_FILL)
        try:
            # As the later message's sender, who could read the conversation when sending.
            page = await self._read_after(
                message.sender_id, message.conversation_id, previous, missing
            )
        except (Forbidden, NotFound):
            return []
        filled = [m for m in page.messages if previous < m.seq < message.seq]
        if filled:
            log.info(
                "messages published out of order were fanned out from history",
                extra={"conversation_id": message.conversation_id, "filled": len(filled)},
            )
        # The sending device is not known from history: it may get its own message pushed.
        return [MessageCommitted(message=m, sender_device_id="") for m in filled]


def history_reader(chat: ChatFacade) -> ReadAfter:
    """:data:`ReadAfter` over the chat module's history."""

    async def read_after(user_id: int, conversation_id: str, after: int, limit: int) -> HistoryPage:
        return await chat.history(
            user_id, conversation_id, before_seq=None, after_seq=after, limit=limit
        )

    return read_after
