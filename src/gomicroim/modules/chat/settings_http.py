"""HTTP route of a user's own conversation settings: mute notifications and pin."""

from __future__ import annotations

from litestar import Controller, patch
from litestar.di import NamedDependency

from gomicroim.http.auth import caller
from gomicroim.http.body import decode_body
from gomicroim.http.openapi import documented
from gomicroim.modules.chat.contract import (
    ConversationSettings,
    ConversationSettingsFacade,
    SettingsUpdate,
)
from gomicroim.modules.chat.http import AnyRequest, ConversationIdParam


class ConversationSettingsController(Controller):
    """The caller's settings of one conversation."""

    path = "/api/v1/conversations/{conversation_id:str}/settings"
    tags = ["conversations"]

    @patch(
        "/",
        summary="Mute the conversation's notifications until a time, or pin it (caller only)",
        description="Fields left out stay as they are. muted_until (Unix ms) not after now, or"
        " null, unmutes. A muted conversation keeps its own unread count but leaves"
        " total_unread; pinned conversations list first. Every online"
        " device of the caller gets a `settings` frame. 404 conversation_not_found while a"
        " single chat has no messages.",
        **documented(403, 404, body=SettingsUpdate),
    )
    async def update_settings(
        self,
        request: AnyRequest,
        conversation_settings: NamedDependency[ConversationSettingsFacade],
        conversation_id: str = ConversationIdParam,
    ) -> ConversationSettings:
        """Change the caller's settings of a conversation."""
        body = await decode_body(request, SettingsUpdate)
        principal = caller(request)
        return await conversation_settings.update_settings(
            principal.user_id, principal.device_id, conversation_id, body
        )
