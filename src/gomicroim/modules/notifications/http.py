"""HTTP routes of the notifications module: a device's push token."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, put
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from gomicroim.http.auth import caller
from gomicroim.http.body import decode_body
from gomicroim.http.openapi import documented
from gomicroim.modules.notifications.contract import (
    NotificationsFacade,
    PushTokenRead,
    PushTokenSet,
)
from gomicroim.patterns import whole

DeviceIdParam = Parameter(
    min_length=1,
    max_length=64,
    pattern=whole("A-Za-z0-9_.:-"),
    description="One of the caller's own device ids (the device_id it logged in with)",
)
AnyRequest = Request[Any, Any, Any]


class PushTokenController(Controller):
    """Push tokens of the caller's own devices, for the offline-push webhook."""

    path = "/api/v1/devices/{device_id:str}/push-token"
    tags = ["notifications"]

    @put(
        "/",
        status_code=200,
        summary="Register (or replace) the push token of one of the caller's devices",
        description=(
            "The token reaches push.webhook_url with notifications of messages that arrive"
            " while none of the caller's devices is connected. 404 device_not_found: the caller"
            " never logged in from device_id (also for another user's device). A logout of the"
            " device forgets its token."
        ),
        **documented(404, body=PushTokenSet),
    )
    async def set_token(
        self,
        request: AnyRequest,
        notifications: NamedDependency[NotificationsFacade],
        device_id: str = DeviceIdParam,
    ) -> PushTokenRead:
        body = await decode_body(request, PushTokenSet)
        return await notifications.set_token(caller(request).user_id, device_id, body)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Forget the push token of one of the caller's devices",
        description="404 push_token_not_found: the device has no token registered.",
        **documented(404),
    )
    async def remove_token(
        self,
        request: AnyRequest,
        notifications: NamedDependency[NotificationsFacade],
        device_id: str = DeviceIdParam,
    ) -> None:
        await notifications.remove_token(caller(request).user_id, device_id)
