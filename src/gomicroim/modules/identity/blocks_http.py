"""HTTP routes of the caller's block list."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from gomicroim.http.auth import caller
from gomicroim.http.openapi import documented
from gomicroim.modules.identity.contract import BlockPage, BlockRead, BlocksFacade
from gomicroim.modules.identity.http import AnyRequest, UserIdParam


class BlockController(Controller):
    """Blocking users: a blocked user's single-chat messages to the caller are refused."""

    path = "/api/v1/users/me/blocks"
    tags = ["users"]

    @post(
        "/{user_id:int}",
        status_code=201,
        summary="Block a user; 201 when blocked now, 200 when already blocked",
        description="While the block stands, neither side can send the other a single-chat"
        " message (403 `blocked` for the blocked user, `you_blocked_user` for the caller)."
        " Group messages are unaffected. 400 `cannot_block_self`, 404 `user_not_found`.",
        **documented(
            404, extra={200: ResponseSpec(BlockRead, description="Already blocked (unchanged)")}
        ),
    )
    async def block(
        self,
        request: AnyRequest,
        blocks: NamedDependency[BlocksFacade],
        user_id: int = UserIdParam,
    ) -> Response[BlockRead]:
        """Block ``user_id`` for the caller."""
        result = await blocks.block(caller(request).user_id, user_id)
        return Response(result.block, status_code=201 if result.created else 200)

    @delete(
        "/{user_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Unblock a user (also 204 when the user was not blocked)",
        **documented(404),
    )
    async def unblock(
        self,
        request: AnyRequest,
        blocks: NamedDependency[BlocksFacade],
        user_id: int = UserIdParam,
    ) -> None:
        """Lift the caller's block of ``user_id``."""
        await blocks.unblock(caller(request).user_id, user_id)

    @get(
        "/",
        summary="The users the caller has blocked, newest first, paged with limit and cursor",
        **documented(),
    )
    async def list_blocks(
        self,
        request: AnyRequest,
        blocks: NamedDependency[BlocksFacade],
        limit: int = Parameter(ge=1, le=200, default=50, description="blocks per page"),
        cursor: str | None = Parameter(
            required=False, max_length=32, description="next_cursor of the previous page"
        ),
    ) -> BlockPage:
        """A page of the caller's blocks."""
        return await blocks.blocks_of(caller(request).user_id, limit=limit, cursor=cursor)
