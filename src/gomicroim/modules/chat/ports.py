"""What the chat service needs: its store and the other modules' answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from gomicroim.modules.chat.contract import (
    MessageCommitted,
    MessageRead,
    MsgType,
    ReadPositionMoved,
    SessionType,
)


class MessageDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A message before it has a seq."""

    conversation_id: str
    session_type: SessionType
    sender_id: int
    sender_device_id: str
    to: int
    client_msg_id: str
    msg_type: MsgType
    body: str
    created_at: int


class EntryRow(msgspec.Struct, frozen=True, kw_only=True):
    """A user's conversation entry joined with the conversation's state."""

    conversation_id: str
    session_type: SessionType
    last_seq: int
    read_seq: int
    last_message: MessageRead | None
    updated_at: int


class ReadPosition(msgspec.Struct, frozen=True, kw_only=True):
    """A user's read seq in a conversation and the conversation's last seq."""

    read_seq: int
    last_seq: int


class DuplicateMessage(Exception):
    """Raised by :meth:`ChatStore.append` when (sender, client_msg_id) is already stored."""


class ChatStore(Protocol):
    """Conversations, entries, history and the outbox.

    One store because a send touches all four in one transaction.
    """

    async def ensure_conversation(
        self, conversation_id: str, session_type: SessionType, user_ids: set[int], now_ms: int
    ) -> None:
        """Create the conversation with these users' entries; a no-op once it exists."""
        ...

    async def member_version(self, conversation_id: str) -> int:
        """The group membership version the entries were last synced to (0 if never)."""
        ...

    async def sync_members(
        self, conversation_id: str, version: int, user_ids: set[int], now_ms: int
    ) -> None:
        """Make the entries exactly ``user_ids``: new ones start read up to the current seq."""
        ...

    async def append(self, draft: MessageDraft) -> MessageRead:
        """Store a message with the conversation's next seq.

        In one transaction: allocate the seq, store the message, move the sender's read position
        to it, update the conversation and write the outbox record. Raise
        :class:`DuplicateMessage` if the client id was stored meanwhile.
        """
        ...

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        """A message by its sender's client id."""
        ...

    async def history(
        self, conversation_id: str, *, before_seq: int | None, after_seq: int | None, limit: int
    ) -> tuple[list[MessageRead], bool]:
        """Up to ``limit`` messages ascending by seq, and whether more lie beyond the page."""
        ...

    async def entries(self, user_id: int) -> list[EntryRow]:
        """The user's conversation entries, most recently updated first."""
        ...

    async def mark_read(self, user_id: int, conversation_id: str, seq: int) -> ReadPosition:
        """Move the read seq forward (clamped to last seq); create the entry if missing."""
        ...


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A committed-message event not yet relayed."""

    id: int
    event: MessageCommitted


class OutboxStore(Protocol):
    """The outbox rows the send transaction writes."""

    async def pending(self, limit: int) -> list[OutboxRecord]:
        """Unpublished records in commit order (ascending id)."""
        ...

    async def mark_published(self, ids: list[int], now_ms: int) -> None:
        """Record that these were relayed."""
        ...

    async def mark_published_keys(self, keys: list[tuple[str, int]], now_ms: int) -> None:
        """Record that the records of these (conversation_id, seq) were relayed."""
        ...

    async def prune(self, published_before_ms: int) -> int:
        """Delete records relayed before the cutoff; return how many."""
        ...


class CommittedPublisher(Protocol):
    """The bus topic of committed messages."""

    async def publish(self, items: list[MessageCommitted]) -> None:
        """Return once the events are durable on the bus (or, in process, handled)."""
        ...


class ReadEventPublisher(Protocol):
    """Where read-position hints go; losing one is harmless (lists are the truth)."""

    def publish_nowait(self, items: list[ReadPositionMoved]) -> bool:
        """Queue the events without waiting."""
        ...


class SendMetrics(Protocol):
    """Counters of sends (Prometheus in production)."""

    def message_stored(self, session_type: SessionType) -> None:
        """A new message was stored."""
        ...

    def message_deduplicated(self) -> None:
        """A send was answered with an already stored message."""
        ...


class OutboxMetrics(Protocol):
    """Where the relay reports its backlog (Prometheus in production)."""

    def watch_outbox_backlog(self, count: Callable[[], int]) -> None:
        """Read the number of committed events waiting to be published from ``count``."""
        ...


class Directory(Protocol):
    """Identity's answer: which users exist."""

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        """The subset that exists."""
        ...
