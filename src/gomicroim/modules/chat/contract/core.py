"""``ChatFacade``: sending, lists, history and read positions, with their wire types and events."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.chat.contract.settings import (
    ConversationSettings,
)
from gomicroim.modules.groups.contract import MemberSet
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
    #: Changes applied since the send (recall, edits); a client keeps the highest revision.
    revision: int = 0
    #: When the sender last edited the body (Unix ms); null if never.
    edited_at: int | None = None
    #: A recalled message is a tombstone: its body is empty and gone from storage.
    recalled: bool = False
    recalled_by: int | None = None
    recalled_at: int | None = None


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """The stored message and whether this call stored it (False: an idempotent replay)."""

    message: MessageRead
    created: bool


class MessagePreview(MessageRead, kw_only=True):
    """A conversation's last message as the list shows it: the body cut to a preview.

    ``body`` holds at most ``chat.preview_chars`` characters (Unicode code points);
    ``truncated`` says whether it was cut. A cut body is a prefix (for structured types
    not valid JSON); the whole body is in the history.
    """

    truncated: bool = False


class ConversationRead(msgspec.Struct, kw_only=True):
    """One entry of a user's conversation list."""

    conversation_id: str
    session_type: SessionType
    peer_id: int | None
    group_id: int | None
    last_seq: int
    read_seq: int
    unread: int
    last_message: MessagePreview | None
    updated_at: int
    #: Single chats: how far the peer has read (their ``read_seq``); null in groups.
    peer_read_seq: int | None = None
    #: Groups: the group is dissolved (history readable, nothing can be sent); false otherwise.
    dissolved: bool = False
    #: The caller's notifications of this conversation are muted until then (Unix ms); null
    #: when not muted (a mute that has passed reads null). ``unread`` still counts.
    muted_until: int | None = None
    #: The caller pinned the conversation: pinned ones list first.
    pinned: bool = False


class ConversationList(msgspec.Struct, kw_only=True):
    """A page of a user's conversations: pinned first, then most recently active first.

    Ordered by ``pinned`` (true first), then ``updated_at`` descending, then ``conversation_id``
    descending. ``total_unread`` counts every conversation of the user that is not muted, not
    just this page. ``next_before`` is an opaque cursor: pass it back as ``before`` for the
    next page; null on the last page.
    """

    conversations: list[ConversationRead]
    total_unread: int
    next_before: str | None = None


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
    #: Set when the event is a change of a message stored before (``message.revision`` > 0):
    #: recipients get a ``recall`` or ``edit`` frame instead of ``message``.
    change: MessageChange | None = None
    #: Who made the change (the sender, or later a group admin); ``sender_device_id`` is then
    #: the acting device, which is not pushed to.
    actor_id: int | None = None


MessageChange = Literal["recall", "edit"]


class ReadPositionMoved(msgspec.Struct, frozen=True, kw_only=True):
    """Event: a user's read position moved forward (a hint for their devices and the peer).

    With ``settings`` it is instead a change of the user's conversation settings, for their
    devices only (``seq`` 0, no ``peer_id``): it shares the read topic's path to them. A
    worker of an earlier release, which does not know the field, pushes it as a ``read`` of
    seq 0, which moves no read position.
    """

    conversation_id: str
    user_id: int
    device_id: str
    seq: int
    peer_id: int | None
    settings: ConversationSettings | None = None


@runtime_checkable
class ChatFacade(Protocol):
    """Sending and reading messages."""

    async def send(self, sender_id: int, sender_device_id: str, request: MessageSend) -> SendResult:
        """Store a message durably and return it with its conversation seq.

        Raises:
            InvalidInput: ``msg_type_not_allowed`` (system), ``cannot_message_self``.
            TooLarge: ``body_too_large`` past ``chat.max_body_bytes``.
            NotFound: ``user_not_found`` or ``group_not_found``.
            Forbidden: ``not_a_member``, ``group_dissolved``, ``member_muted``; in a single
                chat ``blocked`` (the peer blocked the sender), ``you_blocked_user`` (the sender
                blocked the peer) or ``no_shared_group`` (``chat.single_chat_policy`` is
                ``shared_group`` and they share no live group). Nothing is stored.
        """
        ...

    async def conversations(
        self, user_id: int, *, limit: int | None = None, before: str | None = None
    ) -> ConversationList:
        """A page of the user's conversation list with unread counts: pinned, then most active.

        ``limit`` defaults to ``chat.conversations_page_limit`` and may be at most
        ``chat.conversations_max_limit``; ``before`` is the ``next_before`` of the previous
        page. Last messages are previews of at most ``chat.preview_chars`` characters.

        Raises:
            InvalidInput: ``invalid_field`` for a ``limit`` out of range or a ``before``
                cursor this server did not issue.
        """
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
        In a group, unless ``groups.new_members_see_history``, only seqs inside the caller's
        membership windows: the current spell, and with ``groups.former_member_history =
        "while_member"`` the past ones too (then a former member may read as well).

        Raises:
            InvalidInput: ``invalid_conversation_id`` or both cursors given.
            Forbidden: ``not_a_participant``, ``not_a_member``.
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

    async def single_peers(self, user_id: int, candidates: set[int]) -> set[int]:
        """Which of ``candidates`` have a single conversation with ``user_id`` (one query).

        A single conversation exists from its first message on; ``user_id`` itself is never
        among the answer.
        """
        ...


@runtime_checkable
class GroupAudience(Protocol):
    """Which members a group message reaches (join-time history, ``groups.*`` settings)."""

    async def group_audience(self, message: MessageRead, members: MemberSet) -> set[int]:
        """The members who may be pushed ``message`` and get it in their sync timeline.

        With ``groups.new_members_see_history`` off, members whose current spell began after
        the message are left out, so sync agrees with history; otherwise every member.
        """
        ...
