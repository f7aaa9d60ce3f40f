"""Per-user conversation settings (mute, pin): ``ConversationSettingsFacade`` and its types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol, runtime_checkable

import msgspec

MutedUntil = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=2**53 - 1,
        description="Unix ms; a time not after now (or null) means not muted.",
    ),
]


class SettingsUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PATCH /conversations/{id}/settings`` body: the fields to change; absent ones stay."""

    muted_until: MutedUntil | msgspec.UnsetType | None = msgspec.UNSET
    pinned: bool | msgspec.UnsetType = msgspec.UNSET


class ConversationSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One user's settings of one conversation (the answer of a change and its frame)."""

    conversation_id: str
    #: Notifications muted until then (Unix ms); null when not muted.
    muted_until: int | None
    pinned: bool


@runtime_checkable
class ConversationSettingsFacade(Protocol):
    """A user's own settings of a conversation: mute notifications (do not disturb) and pin."""

    async def update_settings(
        self, user_id: int, device_id: str, conversation_id: str, update: SettingsUpdate
    ) -> ConversationSettings:
        """Change the caller's settings of a conversation and tell all their devices.

        A ``muted_until`` not after now, or null, unmutes. Every online device of the user
        (``device_id``'s too) gets a ``settings`` frame.

        Raises:
            InvalidInput: ``invalid_conversation_id``.
            Forbidden: ``not_a_participant`` / ``not_a_member``.
            NotFound: ``group_not_found``, or ``conversation_not_found`` when the caller has
                no entry for it yet (a single chat without messages).
        """
        ...

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """Which of ``user_ids`` have ``conversation_id`` muted at ``now_ms`` (one query).

        For offline push: a muted user gets no notification. Users without an entry for the
        conversation are not muted.
        """
        ...
