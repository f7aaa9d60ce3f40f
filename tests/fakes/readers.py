"""Fake of chat's ``ReaderStore`` over a :class:`MemoryChatStore`'s entries and messages."""

from __future__ import annotations

from gomicroim.modules.chat.ports import ReadCounts, ReaderPosition
from tests.fakes.chat import MemoryChatStore


class MemoryReaderStore:
    """Reads the fake chat store's read positions; sorts in memory what SQL reads in order."""

    def __init__(self, chat: MemoryChatStore):
        self._chat = chat

    async def sender_of(self, conversation_id: str, seq: int) -> int | None:
        conversation = self._chat._conversations.get(conversation_id)
        if conversation is None:
            return None
        return next((m.sender_id for m in conversation.messages if m.seq == seq), None)

    async def readers(
        self,
        conversation_id: str,
        seq: int,
        *,
        exclude: int,
        after: ReaderPosition | None,
        limit: int,
    ) -> list[ReaderPosition]:
        found = sorted(
            ReaderPosition(read_seq=r, user_id=u)
            for u, r in (await self.read_positions(conversation_id)).items()
            if r >= seq and u != exclude
        )
        return [p for p in found if after is None or p > after][:limit]

    async def read_counts(self, conversation_id: str, seq: int, *, exclude: int) -> ReadCounts:
        others = [
            r for u, r in (await self.read_positions(conversation_id)).items() if u != exclude
        ]
        return ReadCounts(total=len(others), unread=sum(1 for r in others if r < seq))

    async def read_positions(self, conversation_id: str) -> dict[int, int]:
        return {u: r for (u, c), r in self._chat._reads.items() if c == conversation_id}
