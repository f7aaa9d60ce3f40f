"""Connection caps: in process when one node holds every socket, in Redis across nodes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections import Counter

from redis.asyncio import Redis

from gomicroim.gateway.ports import ConnectionSlot, Refusal
from gomicroim.infra.redis import CONNECTION_ERRORS
from gomicroim.infra.tasks import stop_tasks

log = logging.getLogger("gomicroim.gateway")


def _user_refusal(devices: int) -> Refusal:
    return Refusal(
        limit="gateway.max_connections_per_user",
        message=f"{devices} devices of this user are connected already, the limit"
        " (gateway.max_connections_per_user); close one, then retry",
    )


def _ip_refusal(sockets: int) -> Refusal:
    return Refusal(
        limit="gateway.max_connections_per_ip",
        message=f"{sockets} sockets are open from this address already, the limit"
        " (gateway.max_connections_per_ip); close some, then retry",
    )


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
            return _user_refusal(len(devices))
        if self._per_ip and self._ips[slot.ip] >= self._per_ip:
            return _ip_refusal(self._ips[slot.ip])
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

    async def close(self) -> None:
        """Nothing to stop in process."""


#: Count a socket in unless a cap refuses it, atomically for every node. KEYS: the user's
#: and the address's sorted sets (member → lease expiry, ms). ARGV: now, new expiry, user
#: cap, address cap, device id, user member, address member, key ttl. Returns {0} when
#: counted, {1, devices} or {2, sockets} for the cap that refuses.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local per_user, per_ip = tonumber(ARGV[3]), tonumber(ARGV[4])
if per_user > 0 then
  local devices, count, known = {}, 0, false
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local device = string.match(member, '^(.-)\\31')
    if device == ARGV[5] then known = true end
    if not devices[device] then devices[device] = true; count = count + 1 end
  end
  if not known and count >= per_user then return {1, count} end
end
if per_ip > 0 then
  local sockets = redis.call('ZCARD', KEYS[2])
  if sockets >= per_ip then return {2, sockets} end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
return {0}
"""


class RedisConnectionQuota:
    """Implements ``ConnectionQuota`` in Redis, so the caps hold across every gateway node.

    Each socket is a member of its user's and its address's sorted sets, scored by the expiry
    of a lease this node renews every third of ``lease_s``. A node that dies stops renewing,
    and its sockets stop counting ``lease_s`` later. When Redis does not answer, a socket is
    let in (push must not depend on the caps) and logged; renewals count it in once Redis is
    back.
    """

    def __init__(
        self, client: Redis, *, key_prefix: str, per_user: int, per_ip: int, lease_s: float
    ):
        self._client = client
        self._prefix = f"{key_prefix}wsq:"
        self._per_user = per_user
        self._per_ip = per_ip
        self._lease_ms = int(lease_s * 1000)
        self._instance = secrets.token_hex(6)
        self._serial = itertools.count()
        self._acquire = client.register_script(_ACQUIRE)
        #: This node's sockets: slot → the (user member, address member) of each.
        self._held: dict[ConnectionSlot, list[tuple[str, str]]] = {}
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self, slot: ConnectionSlot) -> Refusal | None:
        """Count ``slot`` in across nodes unless a cap is reached."""
        serial = f"{self._instance}:{next(self._serial)}"
        members = (f"{slot.device_id}\x1f{serial}", serial)
        now = _now_ms()
        try:
            verdict = await self._acquire(
                keys=self._keys(slot),
                args=[
                    now,
                    now + self._lease_ms,
                    self._per_user,
                    self._per_ip,
                    slot.device_id,
                    *members,
                    self._lease_ms * 2,
                ],
            )
        except CONNECTION_ERRORS as exc:
            log.warning("connection caps not checked: redis does not answer", extra=_err(exc))
            verdict = [0]
        if verdict[0] == 1:
            return _user_refusal(int(verdict[1]))
        if verdict[0] == 2:
            return _ip_refusal(int(verdict[1]))
        self._held.setdefault(slot, []).append(members)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_forever(), name="ws-quota-renew")
        return None

    async def release(self, slot: ConnectionSlot) -> None:
        """Count ``slot`` out on every node."""
        held = self._held.get(slot)
        if not held:
            return
        user_member, ip_member = held.pop()
        if not held:
            del self._held[slot]
        user_key, ip_key = self._keys(slot)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.zrem(user_key, user_member)
                pipe.zrem(ip_key, ip_member)
                await pipe.execute()
        except CONNECTION_ERRORS as exc:
            # The lease, no longer renewed, frees the slot when it expires.
            log.warning("connection slot not released: redis does not answer", extra=_err(exc))

    async def close(self) -> None:
        """Stop renewing; this node's slots expire with their leases unless released."""
        if self._renewer is not None:
            await stop_tasks(self._renewer)
            self._renewer = None

    async def renew(self) -> None:
        """Extend the lease of every socket this node holds (re-adding any Redis lost)."""
        if not self._held:
            return
        expiry = _now_ms() + self._lease_ms
        async with self._client.pipeline(transaction=False) as pipe:
            for slot, held in self._held.items():
                user_key, ip_key = self._keys(slot)
                for user_member, ip_member in held:
                    pipe.zadd(user_key, {user_member: expiry})
                    pipe.zadd(ip_key, {ip_member: expiry})
                pipe.pexpire(user_key, self._lease_ms * 2)
                pipe.pexpire(ip_key, self._lease_ms * 2)
            await pipe.execute()

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                await self.renew()
            except CONNECTION_ERRORS as exc:
                log.warning("connection leases not renewed: redis does not answer", extra=_err(exc))

    def _keys(self, slot: ConnectionSlot) -> list[str]:
        return [f"{self._prefix}user:{slot.user_id}", f"{self._prefix}ip:{slot.ip}"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _err(exc: Exception) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}"}
