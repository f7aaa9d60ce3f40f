"""Push-token registration: the caller's own devices only, dropped again at logout."""

from __future__ import annotations

import logging

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import NotFound
from gomicroim.modules.identity.contract import IdentityFacade, SessionEnded, SessionEvents
from gomicroim.modules.notifications.contract import PushTokenRead, PushTokenSet
from gomicroim.modules.notifications.ports import PushTokenStore, StoredToken

log = logging.getLogger("gomicroim.notifications")


class NotificationsService:
    """Implements :class:`~gomicroim.modules.notifications.contract.NotificationsFacade`."""

    def __init__(
        self,
        *,
        tokens: PushTokenStore,
        identity: IdentityFacade,
        session_events: SessionEvents | None = None,
        clock: Clock = now_ms,
    ):
        """``session_events``: a logout there forgets the device's token."""
        self._tokens = tokens
        self._identity = identity
        self._clock = clock
        if session_events is not None:
            session_events.subscribe(self._session_ended)

    async def set_token(self, user_id: int, device_id: str, request: PushTokenSet) -> PushTokenRead:
        """Register a device's push token; see the facade."""
        devices = await self._identity.devices_of({user_id})
        if all(d.device_id != device_id for d in devices.get(user_id, ())):
            # The same answer for another user's device: ids of others' devices stay private.
            raise NotFound(
                "device: you have not logged in from this device",
                code="device_not_found",
                field="device_id",
            )
        stored = await self._tokens.put(
            StoredToken(
                user_id=user_id,
                device_id=device_id,
                platform=request.platform,
                token=request.token,
                updated_at=self._clock(),
            )
        )
        return PushTokenRead(
            device_id=stored.device_id,
            platform=request.platform,
            token=stored.token,
            updated_at=stored.updated_at,
        )

    async def remove_token(self, user_id: int, device_id: str) -> None:
        """Forget a device's push token; see the facade."""
        if not await self._tokens.delete(user_id, device_id):
            raise NotFound(
                "push token: this device has none registered",
                code="push_token_not_found",
                field="device_id",
            )

    async def _session_ended(self, event: SessionEnded) -> None:
        # A logged-out device must not be woken for its former user; "replaced" (the device
        # logged in again) keeps the token, which still belongs to the same installation.
        if event.reason != "logout":
            return
        try:
            await self._tokens.delete(event.user_id, event.device_id)
        except Exception:
            log.exception(
                "push token not dropped at logout",
                extra={"user_id": event.user_id, "device_id": event.device_id},
            )
