"""HTTP routes of the chat module: send, conversation list, history, read positions."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from gomicroim.http.abuse import abuse_limits
from gomicroim.http.auth import caller
from gomicroim.http.body import decode_body
from gomicroim.http.openapi import documented, link
from gomicroim.modules.chat.contract import (
    ChatFacade,
    ConversationList,
    HistoryPage,
    MessageRead,
    MessageSend,
    ReadRequest,
    ReadResult,
)
from gomicroim.modules.chat.domain import MAX_CURSOR_CHARS

ConversationIdParam = Parameter(
    max_length=64,
    description="s:<small_user_id>:<big_user_id> (small < big) or g:<group_id>",
    # Documented only: the chat domain checks it and answers 400 invalid_conversation_id.
    schema_extra={"pattern": r"^(s:[1-9][0-9]{0,15}:[1-9][0-9]{0,15}|g:[1-9][0-9]{0,15})$"},
)
SeqParam = Parameter(ge=0, le=2**53 - 1, required=False)
AnyRequest = Request[Any, Any, Any]
_CONVERSATION = {"conversation_id": "$response.body#/conversation_id"}
#: What a stored message enables: its conversation's history and moving the read position.
_STORED_LINKS = {
    "history": link(
        "/api/v1/conversations/{conversation_id}/messages", "get", parameters=_CONVERSATION
    ),
    "read": link(
        "/api/v1/conversations/{conversation_id}/read",
        "post",
        parameters=_CONVERSATION,
        body={"seq": "$response.body#/seq"},
    ),
}


class MessageController(Controller):
    """Sending messages."""

    path = "/api/v1/messages"
    tags = ["messages"]

    @post(
        "/",
        summary="Send a message; 201 when stored, 200 when the client_msg_id was already stored",
        status_code=201,
        **documented(
            403,
            404,
            body=MessageSend,
            links={201: _STORED_LINKS, 200: _STORED_LINKS},
            extra={
                200: ResponseSpec(MessageRead, description="Already stored (same client_msg_id)")
            },
        ),
    )
    async def send(
        self,
        request: AnyRequest,
        chat: NamedDependency[ChatFacade],
    ) -> Response[MessageRead]:
        body = await decode_body(request, MessageSend)
        principal = caller(request)
        await abuse_limits(request).message(principal.user_id)
        result = await chat.send(principal.user_id, principal.device_id, body)
        return Response(result.message, status_code=201 if result.created else 200)


class ConversationController(Controller):
    """Conversation list, history pages and read positions."""

    path = "/api/v1/conversations"
    tags = ["conversations"]

    @get(
        "/",
        summary="A page of the caller's conversations: pinned first, then most recently active",
        description=(
            "Ordered by pinned (the caller's pinned conversations first), then updated_at"
            " (last activity) descending, then conversation_id descending."
            " At most limit entries (default chat.conversations_page_limit, 50; at most"
            " chat.conversations_max_limit, 200, else 400 invalid_field). next_before is an"
            " opaque cursor: pass it as before for the next page; null on the last page."
            " total_unread counts all the caller's conversations but the muted ones (their"
            " own unread still counts). last_message is a preview:"
            " its body holds at most chat.preview_chars (200) characters and truncated says"
            " whether it was cut; the history has the whole body. A conversation that becomes"
            " active while a client pages moves to the top: clients learn it from the push or"
            " the next first page."
        ),
        **documented(),
    )
    async def list_conversations(
        self,
        request: AnyRequest,
        chat: NamedDependency[ChatFacade],
        # No static maximum: the bound is chat.conversations_max_limit, enforced (400) and
        # described by the service, so the schema cannot promise more than the server allows.
        limit: int | None = Parameter(
            ge=1,
            required=False,
            description="Entries per page: 1 to chat.conversations_max_limit (200 by default;"
            " 400 invalid_field above it), default chat.conversations_page_limit (50)",
        ),
        before: str | None = Parameter(
            min_length=1,
            max_length=MAX_CURSOR_CHARS,
            required=False,
            description="The next_before of the previous page (opaque); 400 invalid_field for"
            " a cursor this server did not issue",
        ),
    ) -> ConversationList:
        return await chat.conversations(caller(request).user_id, limit=limit, before=before)

    @get(
        "/{conversation_id:str}/messages",
        summary="A page of history in ascending seq order",
        **documented(403, 404),
    )
    async def history(
        self,
        request: AnyRequest,
        chat: NamedDependency[ChatFacade],
        conversation_id: str = ConversationIdParam,
        before_seq: int | None = SeqParam,
        after_seq: int | None = SeqParam,
        limit: int | None = Parameter(ge=1, le=100, required=False),
    ) -> HistoryPage:
        return await chat.history(
            caller(request).user_id,
            conversation_id,
            before_seq=before_seq,
            after_seq=after_seq,
            limit=limit,
        )

    @post(
        "/{conversation_id:str}/read",
        status_code=200,
        summary="Move the read position forward",
        **documented(403, 404, body=ReadRequest),
    )
    async def mark_read(
        self,
        request: AnyRequest,
        chat: NamedDependency[ChatFacade],
        conversation_id: str = ConversationIdParam,
    ) -> ReadResult:
        body = await decode_body(request, ReadRequest)
        principal = caller(request)
        return await chat.mark_read(
            principal.user_id, conversation_id, body.seq, principal.device_id
        )
