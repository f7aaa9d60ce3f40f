"""HTTP routes of message changes: recall, edit and delete for me."""

from __future__ import annotations

from litestar import Controller, delete, patch, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from gomicroim.http.auth import caller
from gomicroim.http.body import decode_body
from gomicroim.http.openapi import documented
from gomicroim.modules.chat.contract import (
    MessageChangesFacade,
    MessageEdit,
    MessageHidden,
    MessageRead,
)
from gomicroim.modules.chat.http import AnyRequest, ConversationIdParam

MessageSeqParam = Parameter(ge=1, le=2**53 - 1, description="The message's conversation seq")


class MessageChangeController(Controller):
    """Changes to one stored message of a conversation."""

    path = "/api/v1/conversations/{conversation_id:str}/messages/{seq:int}"
    tags = ["conversations"]

    @post(
        "/recall",
        status_code=200,
        summary="Recall a message: it becomes a tombstone for everyone (idempotent)",
        description="The sender may recall within chat.recall_window_s of sending. Every"
        " participant's devices get a `recall` frame; app timelines get an entry.",
        **documented(403, 404),
    )
    async def recall(
        self,
        request: AnyRequest,
        message_changes: NamedDependency[MessageChangesFacade],
        conversation_id: str = ConversationIdParam,
        seq: int = MessageSeqParam,
    ) -> MessageRead:
        """Recall one of the caller's messages."""
        principal = caller(request)
        return await message_changes.recall(
            principal.user_id, principal.device_id, conversation_id, seq
        )

    @patch(
        "/",
        summary="Edit a message's body, keeping its seq",
        description="The sender may edit within chat.edit_window_s of sending. Every"
        " participant's devices get an `edit` frame; app timelines get an entry.",
        **documented(403, 404, 409, body=MessageEdit),
    )
    async def edit(
        self,
        request: AnyRequest,
        message_changes: NamedDependency[MessageChangesFacade],
        conversation_id: str = ConversationIdParam,
        seq: int = MessageSeqParam,
    ) -> MessageRead:
        """Edit one of the caller's messages."""
        body = await decode_body(request, MessageEdit)
        principal = caller(request)
        return await message_changes.edit(
            principal.user_id, principal.device_id, conversation_id, seq, body.body
        )

    @delete(
        "/",
        status_code=200,
        summary="Delete a message for the caller only: gone from their history and sync",
        **documented(403, 404),
    )
    async def hide(
        self,
        request: AnyRequest,
        message_changes: NamedDependency[MessageChangesFacade],
        conversation_id: str = ConversationIdParam,
        seq: int = MessageSeqParam,
    ) -> MessageHidden:
        """Hide a message from the caller's own history and sync."""
        principal = caller(request)
        return await message_changes.hide(
            principal.user_id, principal.device_id, conversation_id, seq
        )
