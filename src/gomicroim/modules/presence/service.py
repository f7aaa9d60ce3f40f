"""In-process presence for the embedded shape, where one node holds every connection."""

from __future__ import annotations

from collections.abc import Iterable

from gomicroim.modules.presence.contract import DeviceConnection


class LocalPresence:
    """Implements ``PresenceFacade`` with a dict: user → device → connection."""

    def __init__(self) -> None:
        self._by_user: dict[int, dict[str, DeviceConnection]] = {}

    async def connected(self, connection: DeviceConnection) -> None:
        """Record a connection."""
        self._by_user.setdefault(connection.user_id, {})[connection.device_id] = connection

    async def disconnected(self, connection: DeviceConnection) -> None:
        """Forget a connection if it is still the device's current one."""
        devices = self._by_user.get(connection.user_id)
        if not devices:
            return
        current = devices.get(connection.device_id)
        if current is not None and current.connection_id == connection.connection_id:
            del devices[connection.device_id]
            if not devices:
                del self._by_user[connection.user_id]

    async def online(self, user_ids: Iterable[int]) -> dict[int, list[DeviceConnection]]:
        """Connections per user."""
        out: dict[int, list[DeviceConnection]] = {}
        for user_id in user_ids:
            devices = self._by_user.get(user_id)
            if devices:
                out[user_id] = list(devices.values())
        return out
