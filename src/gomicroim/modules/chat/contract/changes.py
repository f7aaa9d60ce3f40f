"""Changes to stored messages (recall, edit, delete for me): ``MessageChangesFacade``."""

from __future__ import annotations

from typing import Annotated, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.chat.contract.core import MessageRead


class MessageEdit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PATCH /conversations/{id}/messages/{seq}`` body: the new body."""

    body: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="The new text; at most chat.max_body_bytes UTF-8 bytes, never empty.",
        ),
    ]


class MessageHidden(msgspec.Struct, kw_only=True):
    """Answer of a delete for me: the message is gone from the caller's history and sync."""

    conversation_id: str
    seq: int
    hidden: bool = True


@runtime_checkable
class MessageChangesFacade(Protocol):
    """Changes to stored messages (recall, edit, delete for me) and who may take part."""

    async def recall(
        self, user_id: int, device_id: str, conversation_id: str, seq: int
    ) -> MessageRead:
        """Turn a message into a tombstone and tell every participant; idempotent.

        Raises:
            InvalidInput: ``invalid_conversation_id``.
            Forbidden: ``not_a_participant``, ``not_allowed`` (not the sender), or
                ``recall_window_passed`` (``chat.recall_window_s``).
            NotFound: ``message_not_found``, ``group_not_found``.
        """
        ...

    async def edit(
        self, user_id: int, device_id: str, conversation_id: str, seq: int, body: str
    ) -> MessageRead:
        """Replace a message's body, keeping its seq, and tell every participant.

        Raises:
            InvalidInput: as :meth:`recall`.
            TooLarge: ``body_too_large``.
            Forbidden: ``not_a_participant``, ``not_allowed``, ``edit_window_passed``.
            Conflict: ``message_recalled``.
            NotFound: ``message_not_found``, ``group_not_found``.
        """
        ...

    async def hide(
        self, user_id: int, device_id: str, conversation_id: str, seq: int
    ) -> MessageHidden:
        """Hide a message from the caller's own history and sync; idempotent.

        Raises:
            InvalidInput, Forbidden, NotFound: as :meth:`recall` (no window applies).
        """
        ...

    async def participants(self, user_id: int, conversation_id: str) -> set[int]:
        """The users of a conversation ``user_id`` takes part in (``user_id`` included).

        Raises:
            InvalidInput: ``invalid_conversation_id``.
            Forbidden: ``not_a_participant`` / ``not_a_member``.
            NotFound: ``group_not_found``.
        """
        ...
