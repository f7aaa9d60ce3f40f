"""The chat module's public face: ``ChatFacade``, its wire types and events."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.identity.contract import UserId
from gomicroim.patterns import whole

SessionType = Literal["single", "group"]
MsgType = Literal["text", "image", "file", "audio", "video", "location", "custom", "system"]
ClientMsgId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=whole(r"\x21-\x7e"),
        description="Client-chosen id, unique per sender; resending it returns the first message.",
    ),
]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]


class MessageSend(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /messages`` body. ``to`` is the peer's user id or the group id."""

    to: UserId
    session_type: SessionType
    client_msg_id: ClientMsgId
    msg_type: MsgType
    body: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="Text, or JSON for structured types; at most chat.max_body_bytes"
            " UTF-8 bytes, never empty.",
        ),
    ]


class MessageRead(msgspec.Struct, kw_only=True):
    """A stored message.

    Also stored as JSON (timeline entries, a conversation's last message, outbox payloads):
    a field added later must have a default, so rows written before it still decode.
    """

    conversation_id: str
    seq: int
    sender_id: int
    to: int
    session_type: SessionType
    client_msg_id: str
    msg_type: MsgType
    body: str
    created_at: int


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """The stored message and whether this call stored it (False: an idempotent replay)."""

    message: MessageRead
    created: bool


class ConversationRead(msgspec.Struct, kw_only=True):
    """One entry of a user's conversation list."""

    conversation_id: str
    session_type: SessionType
    peer_id: int | None
    group_id: int | None
    last_seq: int
    read_seq: int
    unread: int
    last_message: MessageRead | None
    updated_at: int
    #: Single chats: how far the peer has read (their ``read_seq``); null in groups.
    peer_read_seq: int | None = None


class ConversationList(msgspec.Struct, kw_only=True):
    """A user's conversations, most recently active first."""

    conversations: list[ConversationRead]
    total_unread: int


class HistoryPage(msgspec.Struct, kw_only=True):
    """Messages of one conversation in ascending seq order."""

    conversation_id: str
    messages: list[MessageRead]
    has_more: bool


class ReadRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /conversations/{id}/read`` body."""

    seq: Seq


class ReadResult(msgspec.Struct, kw_only=True):
    """The caller's read position after a read."""

    conversation_id: str
    read_seq: int
    last_seq: int
    unread: int


class MessageCommitted(msgspec.Struct, frozen=True, kw_only=True):
    """Event: a message is durable. Written to the outbox in the message's transaction.

    Consumers get it at least once and deduplicate by (conversation_id, seq). Fields added
    later get defaults; ``schema_version`` is raised only for a change defaults cannot carry
    (rows written before it existed decode as version 1).
    """

    message: MessageRead
    sender_device_id: str
    schema_version: int = 1


class ReadPositionMoved(msgspec.Struct, frozen=True, kw_only=True):
    """Event: a user's read position moved forward (a hint for their devices and the peer)."""

    conversation_id: str
    user_id: int
    device_id: str
    seq: int
    peer_id: int | None


@runtime_checkable
class ChatFacade(Protocol):
    """Sending and reading messages."""

    async def send(self, sender_id: int, sender_device_id: str, request: MessageSend) -> SendResult:
        """Store a message durably and return it with its conversation seq.

        Raises:
            InvalidInput: ``msg_type_not_allowed`` (system), ``cannot_message_self``.
            TooLarge: ``body_too_large`` past ``chat.max_body_bytes``.
            NotFound: ``user_not_found`` or ``group_not_found``.
            Forbidden: ``not_a_member``, ``group_dissolved``, ``member_muted`` (nothing is stored).
        """
        ...

    async def conversations(self, user_id: int) -> ConversationList:
        """The user's conversation list with unread counts."""
        ...

    async def history(
        self,
        user_id: int,
        conversation_id: str,
        *,
        before_seq: int | None,
        after_seq: int | None,
        limit: int | None = None,
    ) -> HistoryPage:
        """A page of history: seqs after ``after_seq`` (oldest first) or before ``before_seq``.

        Without either, the newest page. Pages are always in ascending seq order. ``limit``
        defaults to ``chat.default_page_size`` and is capped at ``chat.max_page_size``.

        Raises:
            InvalidInput: ``invalid_conversation_id`` or both cursors given.
            Forbidden: ``not_a_participant``.
            NotFound: ``group_not_found``.
        """
        ...

    async def mark_read(
        self, user_id: int, conversation_id: str, seq: int, device_id: str = ""
    ) -> ReadResult:
        """Move the read position forward to ``seq`` (clamped to the last seq; never back).

        The caller's other devices (all but ``device_id``) and, in a single chat, the peer are
        told with a ``read`` event.

        Raises:
            InvalidInput, Forbidden, NotFound: as :meth:`history`.
        """
        ...
