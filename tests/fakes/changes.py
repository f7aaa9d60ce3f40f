"""Fake of chat's ``MessageChangeStore`` over a :class:`MemoryChatStore`'s conversations."""

from __future__ import annotations

from collections.abc import Callable

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from tests.fakes.chat import MemoryChatStore


class MemoryMessageChangeStore:
    """Changes the fake chat store's messages in place; ``relayed`` answers ``unrelayed``."""

    def __init__(self, chat: MemoryChatStore):
        self._chat = chat
        self._hidden: set[tuple[int, str, int]] = set()
        #: (conversation_id, seq) whose committed event is still in the outbox.
        self.unrelayed: set[tuple[str, int]] = set()

    def _conversation(self, conversation_id: str):  # type: ignore[no-untyped-def]
        return self._chat._conversations.get(conversation_id)

    async def message(self, conversation_id: str, seq: int) -> MessageRead | None:
        conversation = self._conversation(conversation_id)
        if conversation is None:
            return None
        return next((m for m in conversation.messages if m.seq == seq), None)

    async def relayed(self, conversation_id: str, seq: int) -> bool:
        return (conversation_id, seq) not in self.unrelayed

    async def change(
        self,
        conversation_id: str,
        seq: int,
        apply: Callable[[MessageRead], MessageRead | None],
        sender_device_id: str,
    ) -> tuple[MessageRead, bool] | None:
        current = await self.message(conversation_id, seq)
        if current is None:
            return None
        changed = apply(current)
        if changed is None:
            return current, False
        conversation = self._conversation(conversation_id)
        conversation.messages = [changed if m.seq == seq else m for m in conversation.messages]
        if conversation.last_seq == seq:
            conversation.last_message = changed
        self._chat.outbox = [
            MessageCommitted(message=changed, sender_device_id=sender_device_id)
            if (e.message.conversation_id, e.message.seq) == (conversation_id, seq)
            else e
            for e in self._chat.outbox
        ]
        return changed, True

    async def hide(self, user_id: int, conversation_id: str, seq: int, now_ms: int) -> None:
        self._hidden.add((user_id, conversation_id, seq))

    async def hidden(self, user_id: int, conversation_id: str, seqs: list[int]) -> set[int]:
        return {s for s in seqs if (user_id, conversation_id, s) in self._hidden}
