"""The presence module's public face: ``PresenceFacade``, ``PresenceViewFacade`` and their types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import msgspec

from gomicroim.modules.identity.contract import ClientType


class DeviceConnection(msgspec.Struct, frozen=True, kw_only=True):
    """One live WebSocket of one device on one gateway node."""

    user_id: int
    device_id: str
    client_type: ClientType
    node_id: str
    connection_id: str


class ConnectionDisplaced(msgspec.Struct, frozen=True, kw_only=True):
    """A device connected again on another node: its connection on ``connection.node_id`` must go.

    The gateway holding ``connection`` closes it (4409, "replaced").
    """

    connection: DeviceConnection
    by: DeviceConnection


DisplacedHandler = Callable[[ConnectionDisplaced], Awaitable[None]]

#: Largest number of user ids one ``GET /api/v1/presence`` asks about.
MAX_QUERY_IDS = 100


class PresenceRead(msgspec.Struct, frozen=True, kw_only=True):
    """One user's presence as clients see it (``GET /api/v1/presence`` and ``presence``)."""

    user_id: int
    online: bool
    #: Unix ms when the user's last device disconnected; null while online, and for a user
    #: never seen disconnecting (never connected, or only before this was recorded).
    last_seen_at: int | None


class PresenceList(msgspec.Struct, kw_only=True):
    """``GET /api/v1/presence``: the asked users the caller may see, in the asked order."""

    presence: list[PresenceRead]


class PresenceChanged(msgspec.Struct, frozen=True, kw_only=True):
    """A user's first device connected (``online``) or last one disconnected (offline)."""

    user_id: int
    online: bool
    last_seen_at: int | None

    def read(self) -> PresenceRead:
        """The change as clients see it."""
        return PresenceRead(
            user_id=self.user_id, online=self.online, last_seen_at=self.last_seen_at
        )


ChangedHandler = Callable[[PresenceChanged], Awaitable[None]]


@runtime_checkable
class PresenceFacade(Protocol):
    """Where devices are connected; the fan-out worker routes pushes by it."""

    async def connected(self, connection: DeviceConnection) -> DeviceConnection | None:
        """Record a connection; it replaces any earlier one of the same device.

        Returns:
            The device's earlier connection if it was still live (on this node or another),
            else None. One on another node is also told to that node's
            :meth:`on_displaced` handlers.

        Raises:
            Unavailable: the shared presence store does not answer.
        """
        ...

    async def disconnected(self, connection: DeviceConnection) -> None:
        """Forget a connection, unless the device has connected again since."""
        ...

    async def online(self, user_ids: Iterable[int]) -> dict[int, list[DeviceConnection]]:
        """Live connections per user; users with none are absent.

        Connections of a node that stopped renewing its lease do not count.

        Raises:
            Unavailable: the shared presence store does not answer.
        """
        ...

    async def states(self, user_ids: Iterable[int]) -> dict[int, PresenceRead]:
        """Online state and last seen time of each user (no visibility rule applied).

        Raises:
            Unavailable: the shared presence store does not answer.
        """
        ...

    def watch(self, handler: ChangedHandler) -> None:
        """Call ``handler`` for every :class:`PresenceChanged`, from this process or another.

        Best effort: a change published while the shared broadcast was down is missed.
        """
        ...

    def on_displaced(self, node_id: str, handler: DisplacedHandler) -> None:
        """Call ``handler`` when a connection held by ``node_id`` is displaced from elsewhere."""
        ...

    def hold(self, node_id: str) -> AbstractAsyncContextManager[None]:
        """Hold ``node_id``'s lease while the block runs (a gateway's lifetime).

        Renews the lease, and puts this node's live connections back whenever the shared
        store lost them. On exit the node's connections and lease are removed.

        Raises:
            ConfigError: another live process holds ``node_id``.
        """
        ...


@runtime_checkable
class PresenceViewFacade(Protocol):
    """Presence as one user may see it: only of users they share a conversation with."""

    async def visible(self, caller_id: int, user_ids: Iterable[int]) -> set[int]:
        """The users among ``user_ids`` whose presence ``caller_id`` may see.

        Those with a single conversation with the caller, those in a live group with the
        caller, and the caller themself. Unknown users and strangers alike are left out.
        """
        ...

    async def presence(self, caller_id: int, user_ids: list[int]) -> PresenceList:
        """The presence of the visible users among ``user_ids``, in their first-asked order.

        Raises:
            InvalidInput: ``too_many_user_ids`` past :data:`MAX_QUERY_IDS` distinct ids.
            Unavailable: the presence store or the database does not answer.
        """
        ...
