"""Pure rules of message changes: who may recall or edit, within which window, and the result.

No I/O. The recall policy takes the caller's group role so that group admins and owners can
be allowed once groups have roles; until then callers pass ``None`` (an ordinary member).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from gomicroim.errors import Conflict, Forbidden
from gomicroim.modules.chat.contract import MessageRead

#: A caller's role in the message's group; ``None`` in single chats or while unknown.
GroupRole = Literal["owner", "admin", "member"]


def may_recall(
    message: MessageRead, caller_id: int, role: GroupRole | None, now_ms: int, window_ms: int
) -> None:
    """Whether ``caller_id`` may recall ``message`` now; the one place the policy lives.

    The sender may within ``window_ms`` of the send. A group's owner or admin may recall any
    member's message at any time (roles are passed in by the caller of this policy).

    Raises:
        Forbidden: ``not_allowed`` or ``recall_window_passed``.
    """
    if message.session_type == "group" and role in ("owner", "admin"):
        return
    if message.sender_id != caller_id:
        raise Forbidden("only the sender may recall this message", code="not_allowed")
    if now_ms - message.created_at > window_ms:
        raise Forbidden(
            f"messages can be recalled for {window_ms // 1000} s after sending"
            " (chat.recall_window_s)",
            code="recall_window_passed",
        )


def may_edit(message: MessageRead, caller_id: int, now_ms: int, window_ms: int) -> None:
    """Whether ``caller_id`` may edit ``message`` now: its sender, within ``window_ms``.

    Raises:
        Forbidden: ``not_allowed`` or ``edit_window_passed``.
        Conflict: ``message_recalled``.
    """
    if message.sender_id != caller_id:
        raise Forbidden("only the sender may edit this message", code="not_allowed")
    if message.recalled:
        raise Conflict("a recalled message cannot be edited", code="message_recalled")
    if message.msg_type == "system":
        raise Forbidden("system messages cannot be edited", code="not_allowed")
    if now_ms - message.created_at > window_ms:
        raise Forbidden(
            f"messages can be edited for {window_ms // 1000} s after sending (chat.edit_window_s)",
            code="edit_window_passed",
        )


def recalled(message: MessageRead, by: int, at_ms: int) -> MessageRead:
    """The tombstone of ``message``: no body, who recalled it and when, the next revision."""
    return msgspec.structs.replace(
        message,
        body="",
        recalled=True,
        recalled_by=by,
        recalled_at=at_ms,
        revision=message.revision + 1,
    )


def edited(message: MessageRead, body: str, at_ms: int) -> MessageRead:
    """``message`` with its new body, the edit time and the next revision."""
    return msgspec.structs.replace(
        message, body=body, edited_at=at_ms, revision=message.revision + 1
    )
