"""HTTP routes of the groups module."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from gomicroim.http.auth import caller
from gomicroim.http.body import decode_body
from gomicroim.http.openapi import documented, link
from gomicroim.http.params import PATH_ID_RULE
from gomicroim.modules.groups.contract import (
    GroupCreate,
    GroupEdit,
    GroupPage,
    GroupRead,
    GroupsFacade,
    MemberList,
    MemberRead,
    MembersAdd,
    MuteRequest,
    OwnerTransfer,
    RoleChange,
)

GroupIdParam = Parameter(ge=1, le=2**53 - 1, description=f"group id. {PATH_ID_RULE}")
UserIdParam = Parameter(ge=1, le=2**53 - 1, description=f"user id. {PATH_ID_RULE}")
_GROUP = {"group_id": "$response.body#/id"}
#: What a created group enables: reading it, its members, changing them, talking in it.
_CREATED_GROUP_LINKS = {
    "group": link("/api/v1/groups/{group_id}", "get", parameters=_GROUP),
    "members": link("/api/v1/groups/{group_id}/members", "get", parameters=_GROUP),
    "add_members": link("/api/v1/groups/{group_id}/members", "post", parameters=_GROUP),
    "remove_member": link(
        "/api/v1/groups/{group_id}/members/{user_id}",
        "delete",
        parameters={**_GROUP, "user_id": "$request.body#/member_ids/0"},
    ),
    "send": link(
        "/api/v1/messages",
        "post",
        body={
            "to": "$response.body#/id",
            "session_type": "group",
            "client_msg_id": "linked-message",
            "msg_type": "text",
            "body": "hello group",
        },
    ),
}
AnyRequest = Request[Any, Any, Any]


class GroupController(Controller):
    """Group creation and membership."""

    path = "/api/v1/groups"
    tags = ["groups"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create a group; the caller is its owner",
        **documented(404, 409, body=GroupCreate, links={201: _CREATED_GROUP_LINKS}),
    )
    async def create(self, request: AnyRequest, groups: NamedDependency[GroupsFacade]) -> GroupRead:
        body = await decode_body(request, GroupCreate)
        return await groups.create(caller(request).user_id, body)

    @get(
        "/",
        summary="The caller's groups, oldest first, paged with limit and cursor",
        **documented(),
    )
    async def list_groups(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        limit: int = Parameter(ge=1, le=100, default=50, description="groups per page"),
        cursor: str | None = Parameter(
            required=False, max_length=32, description="next_cursor of the previous page"
        ),
    ) -> GroupPage:
        return await groups.groups_of(caller(request).user_id, limit=limit, cursor=cursor)

    @get("/{group_id:int}", summary="A group (members only)", **documented(403, 404))
    async def get_group(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
    ) -> GroupRead:
        return await groups.get(group_id, caller(request).user_id)

    @get(
        "/{group_id:int}/members",
        summary="The group's members in join order, paged with limit and cursor (members only)",
        **documented(403, 404),
    )
    async def members(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
        limit: int | None = Parameter(
            ge=1,
            le=2000,
            required=False,
            description="members per page; default groups.members_page_limit (500)",
        ),
        cursor: str | None = Parameter(
            required=False, max_length=32, description="next_cursor of the previous page"
        ),
    ) -> MemberList:
        return await groups.members(group_id, caller(request).user_id, limit=limit, cursor=cursor)

    @post(
        "/{group_id:int}/members",
        status_code=200,
        summary="Add members (owner or admin)",
        **documented(403, 404, 409, body=MembersAdd),
    )
    async def add_members(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
    ) -> MemberList:
        body = await decode_body(request, MembersAdd)
        return await groups.add_members(group_id, caller(request).user_id, body.user_ids)

    @delete(
        "/{group_id:int}/members/{user_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member (owner or admin) or leave (your own id)",
        **documented(403, 404, 409),
    )
    async def remove_member(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
        user_id: int = UserIdParam,
    ) -> None:
        await groups.remove_member(group_id, caller(request).user_id, user_id)

    @put(
        "/{group_id:int}/members/{user_id:int}/role",
        summary="Make a member an admin or a plain member (owner only)",
        **documented(403, 404, 409, body=RoleChange),
    )
    async def set_role(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
        user_id: int = UserIdParam,
    ) -> MemberRead:
        body = await decode_body(request, RoleChange)
        return await groups.set_role(group_id, caller(request).user_id, user_id, body.role)

    @post(
        "/{group_id:int}/transfer",
        status_code=200,
        summary="Hand the group to a member (owner only); the old owner becomes an admin",
        **documented(403, 404, 409, body=OwnerTransfer),
    )
    async def transfer(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
    ) -> GroupRead:
        body = await decode_body(request, OwnerTransfer)
        return await groups.transfer(group_id, caller(request).user_id, body.user_id)

    @delete(
        "/{group_id:int}",
        status_code=200,
        summary="Dissolve the group (owner only): history stays readable, sending stops",
        **documented(403, 404),
    )
    async def dissolve(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
    ) -> GroupRead:
        return await groups.dissolve(group_id, caller(request).user_id)

    @patch(
        "/{group_id:int}",
        summary="Rename, set the notice or avatar, switch mute-all (owner or admin)",
        **documented(403, 404, body=GroupEdit),
    )
    async def edit(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
    ) -> GroupRead:
        body = await decode_body(request, GroupEdit)
        return await groups.edit(group_id, caller(request).user_id, body)

    @post(
        "/{group_id:int}/members/{user_id:int}/mute",
        status_code=200,
        summary="Mute a member until a time (owner: anyone but themself; admin: plain members)",
        **documented(403, 404, 409, body=MuteRequest),
    )
    async def mute(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
        user_id: int = UserIdParam,
    ) -> MemberRead:
        body = await decode_body(request, MuteRequest)
        return await groups.mute(group_id, caller(request).user_id, user_id, body.until)

    @delete(
        "/{group_id:int}/members/{user_id:int}/mute",
        status_code=200,
        summary="Unmute a member",
        **documented(403, 404, 409),
    )
    async def unmute(
        self,
        request: AnyRequest,
        groups: NamedDependency[GroupsFacade],
        group_id: int = GroupIdParam,
        user_id: int = UserIdParam,
    ) -> MemberRead:
        return await groups.mute(group_id, caller(request).user_id, user_id, None)
