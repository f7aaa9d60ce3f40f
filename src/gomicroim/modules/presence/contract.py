"""The presence module's public face: ``PresenceFacade`` and ``DeviceConnection``."""

from __future__ import annotations

from collections.abc import Iterable
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


@runtime_checkable
class PresenceFacade(Protocol):
    """Where devices are connected; the fan-out worker routes pushes by it."""

    async def connected(self, connection: DeviceConnection) -> None:
        """Record a connection; it replaces any earlier one of the same device."""
        ...

    async def disconnected(self, connection: DeviceConnection) -> None:
        """Forget a connection, unless the device has connected again since."""
        ...

    async def online(self, user_ids: Iterable[int]) -> dict[int, list[DeviceConnection]]:
        """Live connections per user; users with none are absent."""
        ...
