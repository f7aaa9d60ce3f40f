"""The presence module's public face: ``PresenceFacade`` and ``DeviceConnection``."""

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
