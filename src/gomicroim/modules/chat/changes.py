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


class TypingThrottle:
    """At most one relayed ``typing`` per (user, conversation) per ``interval_ms``.

    Memory stays bounded: entries older than the interval are dropped once the map holds
    ``max_entries``, and if every entry is fresh the oldest half goes.
    """

    def __init__(self, interval_ms: int = 3000, max_entries: int = 100_000):
        self._interval_ms = interval_ms
        self._max_entries = max_entries
        self._last: dict[tuple[int, str], int] = {}

    def allow(self, user_id: int, conversation_id: str, now_ms: int) -> bool:
        """Whether this typing frame is relayed; records it if so."""
        key = (user_id, conversation_id)
        last = self._last.get(key)
        if last is not None and now_ms - last < self._interval_ms:
            return False
        if len(self._last) >= self._max_entries:
            self._prune(now_ms)
        self._last.pop(key, None)
        self._last[key] = now_ms
        return True

    def _prune(self, now_ms: int) -> None:
        fresh = {k: t for k, t in self._last.items() if now_ms - t < self._interval_ms}
        if len(fresh) >= self._max_entries:
            # Insertion order is time order: keep the newer half.
            fresh = dict(list(fresh.items())[len(fresh) // 2 :])
        self._last = fresh
