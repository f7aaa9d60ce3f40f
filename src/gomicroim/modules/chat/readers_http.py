"""HTTP route of read receipts: who has read a message."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from gomicroim.http.auth import caller
from gomicroim.http.openapi import documented
from gomicroim.modules.chat.contract import ReaderPage, ReadReceiptsFacade
from gomicroim.modules.chat.http import AnyRequest, ConversationIdParam

#: Issued cursors are two ids joined by a dot: at most 33 characters.
MAX_READER_CURSOR_CHARS = 40


class ReadersController(Controller):
    """Who of a conversation's participants has read one of its messages."""

    path = "/api/v1/conversations/{conversation_id:str}/messages/{seq:int}/readers"
    tags = ["conversations"]

    @get(
        "/",
        summary="Who has read a message: readers page by page, and read/unread counts",
        description=(
            "Participants whose read position (read_seq) is at or past seq, ordered by read_seq"
            " then user_id, at most limit per page (default chat.readers_page_limit, 50; at"
            " most chat.readers_max_limit, 200, else 400 invalid_field). next_cursor is opaque:"
            " pass it as cursor for the next page; null on the last page. A reader who reads"
            " on while a client pages may appear again with a higher read_seq: key readers by"
            " user_id. read_count and unread_count cover all current participants, not just"
            " this page. The message's sender is in neither the list nor the counts. Groups:"
            " members only (403 not_a_member), former members are not counted. Single chats:"
            " the peer of the sender, once they have read it (403 not_a_participant for"
            " others). 404 message_not_found when no message has this seq."
        ),
        **documented(403, 404),
    )
    async def readers(
        self,
        request: AnyRequest,
        read_receipts: NamedDependency[ReadReceiptsFacade],
        conversation_id: str = ConversationIdParam,
        seq: int = Parameter(ge=1, le=2**53 - 1, description="The message's conversation seq"),
        # No static maximum: chat.readers_max_limit is enforced (400) and described by the
        # service, so the schema cannot promise more than the server allows.
        limit: int | None = Parameter(
            ge=1,
            required=False,
            description="Readers per page: 1 to chat.readers_max_limit (200 by default; 400"
            " invalid_field above it), default chat.readers_page_limit (50)",
        ),
        cursor: str | None = Parameter(
            min_length=1,
            max_length=MAX_READER_CURSOR_CHARS,
            required=False,
            description="The next_cursor of the previous page (opaque); 400 invalid_field for"
            " a cursor this server did not issue",
        ),
    ) -> ReaderPage:
        """A page of the message's readers with the read and unread counts."""
        return await read_receipts.readers(
            caller(request).user_id, conversation_id, seq, limit=limit, cursor=cursor
        )
