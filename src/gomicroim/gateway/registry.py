"""The connections this node holds, by user and device."""

from __future__ import annotations

from collections.abc import Iterator

from gomicroim.gateway.connection import Connection


class ConnectionRegistry:
    """user → device → connection; at most one connection per device."""

    def __init__(self) -> None:
        self._by_user: dict[int, dict[str, Connection]] = {}

    def add(self, connection: Connection) -> Connection | None:
        """Register ``connection``; return the device's previous connection, if any."""
        devices = self._by_user.setdefault(connection.user_id, {})
        previous = devices.get(connection.device_id)
        devices[connection.device_id] = connection
        return previous

    def remove(self, connection: Connection) -> bool:
        """Unregister ``connection`` unless a newer one of the same device replaced it."""
        devices = self._by_user.get(connection.user_id)
        if not devices or devices.get(connection.device_id) is not connection:
            return False
        del devices[connection.device_id]
        if not devices:
            del self._by_user[connection.user_id]
        return True

    def get(self, user_id: int, device_id: str) -> Connection | None:
        """The device's connection on this node."""
        devices = self._by_user.get(user_id)
        return devices.get(device_id) if devices else None

    def __iter__(self) -> Iterator[Connection]:
        for devices in list(self._by_user.values()):
            yield from list(devices.values())

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_user.values())
