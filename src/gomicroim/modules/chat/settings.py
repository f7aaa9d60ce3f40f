"""Per-user conversation settings: mute notifications until a time (do not disturb) and pin."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import NotFound
from gomicroim.modules.chat import domain
from gomicroim.modules.chat.contract import (
    ConversationSettings,
    ReadPositionMoved,
    SettingsUpdate,
)
from gomicroim.modules.chat.ports import ConversationSettingsStore, ReadEventPublisher
from gomicroim.modules.groups.contract import GroupsFacade

log = logging.getLogger("gomicroim.chat")


class ConversationSettingsService:
    """Implements :class:`ConversationSettingsFacade` on the conversation entries.

    The settings live on the user's entry, so they go with it: a member who leaves a group and
    comes back starts unmuted and unpinned. The change reaches the user's devices on the read
    topic's path (a hint: the conversation list is the truth).
    """

    def __init__(
        self,
        *,
        store: ConversationSettingsStore,
        groups: GroupsFacade,
        events: ReadEventPublisher | None = None,
        clock: Clock = now_ms,
    ):
        self._store = store
        self._groups = groups
        self._events = events
        self._clock = clock

    async def update_settings(
        self, user_id: int, device_id: str, conversation_id: str, update: SettingsUpdate
    ) -> ConversationSettings:
        """Change the caller's settings; see :meth:`ConversationSettingsFacade.update_settings`."""
        ref = domain.parse_conversation_id(conversation_id)
        # Who may read a conversation may set it up, with mark_read's errors.
        domain.require_single_participant(ref, user_id)
        if ref.group_id is not None:
            await self._groups.membership_version(ref.group_id, user_id)
        stored = await self._store.update_settings(
            user_id, ref.id, domain.settings_change(update, self._clock())
        )
        if stored is None:
            raise NotFound(
                f"conversation {ref.id} has no messages yet", code="conversation_not_found"
            )
        muted_until, pinned = stored
        settings = ConversationSettings(
            conversation_id=ref.id,
            muted_until=domain.active_mute(muted_until, self._clock()),
            pinned=pinned,
        )
        await self._tell_devices(user_id, device_id, settings)
        return settings

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """Who has it muted; see :meth:`ConversationSettingsFacade.muted_users`."""
        return await self._store.muted_users(conversation_id, user_ids, now_ms)

    async def _tell_devices(
        self, user_id: int, device_id: str, settings: ConversationSettings
    ) -> None:
        if self._events is None:
            return
        event = ReadPositionMoved(
            conversation_id=settings.conversation_id,
            user_id=user_id,
            device_id=device_id,
            seq=0,
            peer_id=None,
            settings=settings,
        )
        try:
            await self._events.publish([event])
        except Exception:
            # Stored; the other devices see it in their next conversation list.
            log.warning("settings event not published", exc_info=True)
