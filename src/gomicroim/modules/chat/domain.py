"""Pure chat rules: conversation ids, who takes part, body limits, reads, mutes. No I/O."""

from __future__ import annotations

import base64
import binascii

import msgspec

from gomicroim.errors import Forbidden, InvalidInput, NotFound, TooLarge
from gomicroim.modules.chat.contract import (
    MessagePreview,
    MessageRead,
    MessageSend,
    SessionType,
    SettingsUpdate,
)
from gomicroim.modules.chat.ports import EntryRow, ListPosition, ReaderPosition, SettingsChange

_MAX_ID = 2**53 - 1
#: Longer ``before`` cursors are refused before decoding (issued ones are under 120).
MAX_CURSOR_CHARS = 200
_position = msgspec.json.Decoder(ListPosition)


class ConversationRef(msgspec.Struct, frozen=True):
    """A parsed conversation id: ``s:{small}:{big}`` or ``g:{group_id}``."""

    session_type: SessionType
    id: str
    group_id: int | None = None
    users: tuple[int, int] | None = None

    def peer_of(self, user_id: int) -> int | None:
        """In a single chat, the other user."""
        if self.users is None:
            return None
        a, b = self.users
        return b if user_id == a else a

    def includes(self, user_id: int) -> bool:
        """Whether ``user_id`` is one of a single chat's two users."""
        return self.users is not None and user_id in self.users


def single_conversation(a: int, b: int) -> ConversationRef:
    """The conversation between two users; the id does not depend on who sends."""
    small, big = (a, b) if a < b else (b, a)
    return ConversationRef("single", f"s:{small}:{big}", users=(small, big))


def group_conversation(group_id: int) -> ConversationRef:
    """The conversation of a group."""
    return ConversationRef("group", f"g:{group_id}", group_id=group_id)


def conversation_for_send(sender_id: int, request: MessageSend) -> ConversationRef:
    """Where a message goes.

    Raises:
        InvalidInput: ``cannot_message_self`` for a single chat to oneself.
    """
    if request.session_type == "group":
        return group_conversation(request.to)
    if request.to == sender_id:
        raise InvalidInput(
            "cannot send a single-chat message to yourself", code="cannot_message_self"
        )
    return single_conversation(sender_id, request.to)


def parse_conversation_id(value: str) -> ConversationRef:
    """Parse and validate a conversation id from a URL.

    Raises:
        InvalidInput: ``invalid_conversation_id``.
    """
    parts = value.split(":")
    kind = parts[0]
    ids = [_id(p) for p in parts[1:]]
    if kind == "g" and len(ids) == 1 and ids[0] is not None:
        return group_conversation(ids[0])
    if kind == "s" and len(ids) == 2:
        small, big = ids
        if small is not None and big is not None and small < big:
            return single_conversation(small, big)
    raise InvalidInput(
        f"{value!r} is not a conversation id;"
        " expected s:<small_user_id>:<big_user_id> or g:<group_id>",
        code="invalid_conversation_id",
        field="conversation_id",
    )


def _id(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        return None
    number = int(text)
    return number if 1 <= number <= _MAX_ID and str(number) == text else None


def check_message(request: MessageSend, max_body_bytes: int) -> None:
    """Rules on the message itself.

    Raises:
        InvalidInput: ``msg_type_not_allowed`` for ``system`` (only the server sends those).
        TooLarge: ``body_too_large`` when the UTF-8 body exceeds ``max_body_bytes``.
    """
    if request.msg_type == "system":
        raise InvalidInput(
            "msg_type 'system' is reserved for the server",
            code="msg_type_not_allowed",
            field="msg_type",
        )
    size = len(request.body.encode("utf-8", "surrogatepass"))
    if size > max_body_bytes:
        raise TooLarge(
            f"body is {size} bytes; the limit is {max_body_bytes} (chat.max_body_bytes)",
            code="body_too_large",
            field="body",
        )


def require_single_participant(ref: ConversationRef, user_id: int) -> None:
    """Only the two users of a single chat may read it.

    Raises:
        Forbidden: ``not_a_participant``.
    """
    if ref.session_type == "single" and not ref.includes(user_id):
        raise Forbidden(
            f"you are not a participant of conversation {ref.id}", code="not_a_participant"
        )


def page_limit(limit: int | None, default: int, maximum: int, setting: str) -> int:
    """A page's ``limit``: ``default`` when absent; 400 ``invalid_field`` outside 1..maximum.

    ``setting`` names the config key of ``maximum``, so the error says where the bound lives.
    """
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise InvalidInput(
            f"limit must be between 1 and {maximum} ({setting})",
            code="invalid_field",
            field="limit",
        )
    return limit


def message_not_found(conversation_id: str, seq: int) -> NotFound:
    """The error for a seq that holds no message (recall, edit, delete for me, readers)."""
    return NotFound(
        f"no message at seq {seq} in conversation {conversation_id}", code="message_not_found"
    )


def next_read_seq(current: int, requested: int, last_seq: int) -> int:
    """A read position only moves forward and never past the last message."""
    return max(current, min(requested, last_seq))


def unread(last_seq: int, read_seq: int) -> int:
    """Unread count: never negative."""
    return max(0, last_seq - read_seq)


def list_position(row: EntryRow) -> ListPosition:
    """Where ``row`` sits in its user's conversation list."""
    return ListPosition(
        pinned=row.pinned, updated_at=row.updated_at, conversation_id=row.conversation_id
    )


def active_mute(muted_until: int | None, now_ms: int) -> int | None:
    """``muted_until`` if the mute still holds at ``now_ms``, else None (not muted)."""
    return muted_until if muted_until is not None and muted_until > now_ms else None


def settings_change(update: SettingsUpdate, now_ms: int) -> SettingsChange:
    """What an update stores: a mute not after ``now_ms`` is stored as no mute."""
    muted = update.muted_until
    given = not isinstance(muted, msgspec.UnsetType)
    return SettingsChange(
        set_muted=given,
        muted_until=None if isinstance(muted, msgspec.UnsetType) else active_mute(muted, now_ms),
        pinned=None if isinstance(update.pinned, msgspec.UnsetType) else update.pinned,
    )


def encode_cursor(position: ListPosition) -> str:
    """The opaque ``next_before`` cursor of a list page ending at ``position``."""
    raw = msgspec.json.encode(position)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> ListPosition:
    """The position a ``before`` cursor stands for.

    Raises:
        InvalidInput: ``invalid_field`` (``before``) for anything :func:`encode_cursor` did
            not make.
    """
    try:
        if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii():
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = _position.decode(raw)
        parse_conversation_id(position.conversation_id)
    except (ValueError, binascii.Error, msgspec.DecodeError, InvalidInput):
        raise InvalidInput(
            "before: pass back the next_before of the previous page",
            code="invalid_field",
            field="before",
        ) from None
    return position


def preview(message: MessageRead, max_chars: int) -> MessagePreview:
    """``message`` with its body cut to ``max_chars`` code points, and whether it was cut."""
    cut = len(message.body) > max_chars
    fields = msgspec.structs.asdict(message)
    if cut:
        fields["body"] = message.body[:max_chars]
    return MessagePreview(**fields, truncated=cut)


def encode_reader_cursor(position: ReaderPosition) -> str:
    """The opaque ``next_cursor`` of a reader page ending at ``position``."""
    return f"{position.read_seq}.{position.user_id}"


def decode_reader_cursor(cursor: str) -> ReaderPosition:
    """The position a reader-page ``cursor`` stands for.

    Raises:
        InvalidInput: ``invalid_field`` (``cursor``) for anything
            :func:`encode_reader_cursor` did not make.
    """
    read_seq, _, user_id = cursor.partition(".")
    if _id(user_id) is not None and (read_seq == "0" or _id(read_seq) is not None):
        return ReaderPosition(read_seq=int(read_seq), user_id=int(user_id))
    raise InvalidInput(
        "cursor: pass back the next_cursor of the previous page",
        code="invalid_field",
        field="cursor",
    )
