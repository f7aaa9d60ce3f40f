"""The notifications module's public face: push tokens, and the fan-out's offline hook."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol, runtime_checkable

import msgspec

from gomicroim.modules.chat.contract import MessageRead
from gomicroim.patterns import whole

#: The push services a token may belong to; the webhook receiver routes on it.
PushPlatform = Literal["apns", "fcm", "hms", "webpush"]

#: The longest token accepted (APNs tokens are 64 hex digits, FCM ones ~160 characters,
#: Web Push subscriptions serialised a few hundred).
MAX_TOKEN_CHARS = 4096

PushTokenValue = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TOKEN_CHARS,
        pattern=whole("!-~"),
        description=f"1-{MAX_TOKEN_CHARS} printable ASCII characters, no spaces.",
    ),
]


class PushTokenSet(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The body of ``PUT /api/v1/devices/{device_id}/push-token``."""

    platform: PushPlatform
    token: PushTokenValue


class PushTokenRead(msgspec.Struct, frozen=True, kw_only=True):
    """A device's registered push token."""

    device_id: str
    platform: PushPlatform
    token: str
    updated_at: int


@runtime_checkable
class NotificationsFacade(Protocol):
    """Push tokens of the caller's devices."""

    async def set_token(self, user_id: int, device_id: str, request: PushTokenSet) -> PushTokenRead:
        """Register (or replace) the push token of one of the caller's own devices.

        Returns:
            The stored token.

        Raises:
            NotFound: ``device_not_found``: the caller never logged in from ``device_id``
                (another user's device is not told apart from a device that does not exist).
        """
        ...

    async def remove_token(self, user_id: int, device_id: str) -> None:
        """Forget the push token of one of the caller's devices.

        Raises:
            NotFound: ``push_token_not_found``: the device has no token registered.
        """
        ...


class OfflineNotifier(Protocol):
    """What the fan-out worker calls once per committed message; never blocks, never raises."""

    def offline(self, message: MessageRead, user_ids: set[int]) -> None:
        """Queue notifications for ``user_ids``: recipients with no live connection.

        Muted conversations and users without push tokens are filtered out later, off the
        fan-out path.
        """
        ...


class NotificationDevice(msgspec.Struct, frozen=True, kw_only=True):
    """One device a notification is for."""

    device_id: str
    platform: str
    token: str


class Notification(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One offline recipient's notification about one message, as the webhook receives it.

    ``body_preview`` is absent when ``push.include_body`` is false or the message is not text.
    """

    recipient_id: int
    devices: list[NotificationDevice]
    conversation_id: str
    session_type: str
    seq: int
    sender_id: int
    msg_type: str
    created_at: int
    body_preview: str | None = None


class NotificationBatch(msgspec.Struct, frozen=True, kw_only=True):
    """The body of one webhook POST."""

    notifications: list[Notification]
