"""HTTP routes of the identity module: auth and user profiles."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from gomicroim.errors import Unauthenticated
from gomicroim.http.abuse import abuse_limits
from gomicroim.http.auth import caller, client_ip
from gomicroim.http.body import decode_body
from gomicroim.http.openapi import documented, link
from gomicroim.http.params import PATH_ID_RULE
from gomicroim.modules.identity.contract import (
    IdentityFacade,
    LoginRequest,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserRead,
)
from gomicroim.modules.identity.domain import normalize_username

UserIdParam = Parameter(ge=1, le=2**53 - 1, description=f"user id. {PATH_ID_RULE}")
UsernameParam = Parameter(
    min_length=3,
    max_length=32,
    pattern=r"^[A-Za-z0-9_.-]+$",
    description="the whole username; no prefix or pattern search",
)
AnyRequest = Request[Any, Any, Any]


class AuthController(Controller):
    """Registration, login, token rotation and logout."""

    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/register",
        status_code=HTTP_201_CREATED,
        summary="Create an account",
        **documented(
            409,
            429,
            body=UserCreate,
            public=True,
            links={
                201: {
                    "login": link(
                        "/api/v1/auth/login",
                        "post",
                        body={
                            "username": "$response.body#/username",
                            "password": "$request.body#/password",
                            "device_id": "linked-device",
                            "client_type": "app",
                        },
                    )
                }
            },
        ),
    )
    async def register(
        self,
        request: AnyRequest,
        identity: NamedDependency[IdentityFacade],
    ) -> UserRead:
        body = await decode_body(request, UserCreate)
        await abuse_limits(request).registration(client_ip(request))
        return await identity.register(body)

    @post(
        "/login",
        status_code=200,
        summary="Log a device in; returns access and refresh tokens",
        **documented(401, 429, body=LoginRequest, public=True),
    )
    async def login(
        self,
        request: AnyRequest,
        identity: NamedDependency[IdentityFacade],
    ) -> TokenPair:
        body = await decode_body(request, LoginRequest)
        ip, username = client_ip(request), normalize_username(body.username)
        abuse = abuse_limits(request)
        await abuse.login_attempt(ip, username)
        try:
            pair = await identity.login(body)
        except Unauthenticated:
            await abuse.login_failed(ip, username)
            raise
        await abuse.login_succeeded(ip, username)
        return pair

    @post(
        "/refresh",
        status_code=200,
        summary="Rotate tokens; the refresh token is single-use",
        **documented(401, 429, body=RefreshRequest, public=True),
    )
    async def refresh(
        self,
        request: AnyRequest,
        identity: NamedDependency[IdentityFacade],
    ) -> TokenPair:
        body = await decode_body(request, RefreshRequest)
        await abuse_limits(request).refresh(client_ip(request))
        return await identity.refresh(body.refresh_token)

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="End this device's session",
        **documented(),
    )
    async def logout(self, request: AnyRequest, identity: NamedDependency[IdentityFacade]) -> None:
        await identity.logout(caller(request))


class UserController(Controller):
    """User profiles."""

    path = "/api/v1/users"
    tags = ["users"]

    @get(
        "/",
        summary="Find a user by exact username (case-insensitive); 404 if none",
        **documented(404),
    )
    async def find(
        self,
        identity: NamedDependency[IdentityFacade],
        username: str = UsernameParam,
    ) -> UserRead:
        return await identity.find_user(username)

    @get(
        "/me",
        summary="The caller's profile",
        **documented(
            404,
            links={
                200: {
                    "profile": link(
                        "/api/v1/users/{user_id}",
                        "get",
                        parameters={"user_id": "$response.body#/id"},
                    )
                }
            },
        ),
    )
    async def me(self, request: AnyRequest, identity: NamedDependency[IdentityFacade]) -> UserRead:
        return await identity.get_user(caller(request).user_id)

    @get("/{user_id:int}", summary="A user's public profile", **documented(404))
    async def get_user(
        self, identity: NamedDependency[IdentityFacade], user_id: int = UserIdParam
    ) -> UserRead:
        return await identity.get_user(user_id)
