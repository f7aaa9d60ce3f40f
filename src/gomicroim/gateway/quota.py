"""In-process connection caps: the embedded shape, where one node holds every socket."""

from __future__ import annotations

from collections import Counter

from gomicroim.gateway.ports import ConnectionSlot, Refusal


class MemoryConnectionQuota:
    """Implements ``ConnectionQuota`` with counters; a cap of 0 means no cap.

    The user cap counts distinct devices, so a device that reconnects while its previous
    socket is still closing is not refused for that socket.
    """

    def __init__(self, *, per_user: int, per_ip: int):
        self._per_user = per_user
        self._per_ip = per_ip
        self._devices: dict[int, Counter[str]] = {}
        self._ips: Counter[str] = Counter()

    async def acquire(self, slot: ConnectionSlot) -> Refusal | None:
        """Count ``slot`` in unless a cap is reached."""
        devices = self._devices.get(slot.user_id)
        if (
            self._per_user
            and devices is not None
            and slot.device_id not in devices
            and len(devices) >= self._per_user
        ):
            return Refusal(
                limit="gateway.max_connections_per_user",
                message=f"{len(devices)} devices of this user are connected already, the limit"
                f" (gateway.max_connections_per_user); close one, then retry",
            )
        if self._per_ip and self._ips[slot.ip] >= self._per_ip:
            return Refusal(
                limit="gateway.max_connections_per_ip",
                message=f"{self._ips[slot.ip]} sockets are open from this address already, the"
                f" limit (gateway.max_connections_per_ip); close some, then retry",
            )
        self._devices.setdefault(slot.user_id, Counter())[slot.device_id] += 1
        self._ips[slot.ip] += 1
        return None

    async def release(self, slot: ConnectionSlot) -> None:
        """Count ``slot`` out."""
        devices = self._devices.get(slot.user_id)
        if devices is not None:
            devices[slot.device_id] -= 1
            if devices[slot.device_id] <= 0:
                del devices[slot.device_id]
            if not devices:
                del self._devices[slot.user_id]
        self._ips[slot.ip] -= 1
        if self._ips[slot.ip] <= 0:
            del self._ips[slot.ip]
