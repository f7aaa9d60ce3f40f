"""Presence storage: the in-process and Redis adapters of :class:`PresenceStore`.

Redis layout (under ``redis.key_prefix``):

* ``presence:user:<user_id>``: a hash, device id → the encoded :class:`PresenceEntry`;
  expires an hour after its last write, and every holder renews its users' keys well within
  that, so only keys nobody holds any more go away;
* ``presence:lease:<node_id>``: the holder's id, with the lease as the key's TTL;
* ``presence:seen``: a hash, user id → Unix ms their last device disconnected (a few bytes a
  user, kept without expiry: it is what ``last_seen_at`` reports).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, cast

import msgspec

from gomicroim.infra.redis import RedisEngine
from gomicroim.modules.presence.ports import LeaseClaim, Placed, PresenceEntry

#: How long a user's presence hash outlives its last write.
KEY_TTL_MS = 3_600_000

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(PresenceEntry).decode

# KEYS[1] lease; ARGV holder, ttl_ms. Returns {1 renewed | 2 taken | 0 held, remaining ms}.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 0}
elseif not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {2, 0}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
# KEYS[1] lease; ARGV holder.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] user hash; ARGV device id, the exact encoded entry.
_REMOVE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
_STATES = {1: "renewed", 2: "taken", 0: "held"}


class RedisPresenceStore:
    """``PresenceStore`` in Redis, shared by every process of a cluster."""

    def __init__(self, engine: RedisEngine):
        self._engine = engine
        redis = engine.client
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._remove = redis.register_script(_REMOVE)
        self._seen = engine.key("presence", "seen")

    def _user(self, user_id: int) -> str:
        return self._engine.key("presence", "user", user_id)

    def _lease(self, node_id: str) -> str:
        return self._engine.key("presence", "lease", node_id)

    async def put(self, entry: PresenceEntry) -> Placed:
        """HGET, HSET and HGETALL in one transaction: what it returns is exactly what it saw."""
        key = self._user(entry.connection.user_id)
        device = entry.connection.device_id
        with self._engine.errors():
            async with self._engine.client.pipeline(transaction=True) as pipe:
                pipe.hget(key, device)
                pipe.hset(key, device, _encode(entry))
                pipe.pexpire(key, KEY_TTL_MS)
                pipe.hgetall(key)
                previous, _, _, stored = await pipe.execute()
        mine = device.encode()
        others = [_decode(raw) for d, raw in cast(dict[bytes, bytes], stored).items() if d != mine]
        return Placed(previous=_decode(previous) if previous else None, others=others)

    async def put_many(self, entries: Iterable[PresenceEntry]) -> None:
        """HSETNX each entry (one round trip): a newer entry of the device is kept."""
        with self._engine.errors():
            async with self._engine.client.pipeline(transaction=False) as pipe:
                for entry in entries:
                    key = self._user(entry.connection.user_id)
                    pipe.hsetnx(key, entry.connection.device_id, _encode(entry))
                    pipe.pexpire(key, KEY_TTL_MS)
                await pipe.execute()

    async def remove(self, entry: PresenceEntry) -> bool:
        """Compare-and-delete in a script."""
        keys = [self._user(entry.connection.user_id)]
        args: list[str | bytes] = [entry.connection.device_id, _encode(entry)]
        with self._engine.errors():
            return bool(await self._remove(keys=keys, args=args))

    async def entries(self, user_ids: Iterable[int]) -> dict[int, list[PresenceEntry]]:
        """HGETALL per user, pipelined."""
        users = list(dict.fromkeys(user_ids))
        if not users:
            return {}
        with self._engine.errors():
            async with self._engine.client.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.hgetall(self._user(user_id))
                hashes = cast(list[dict[bytes, bytes]], await pipe.execute())
        return {
            user_id: [_decode(raw) for raw in stored.values()]
            for user_id, stored in zip(users, hashes, strict=True)
            if stored
        }

    async def claim(self, node_id: str, holder: str, ttl_ms: int) -> LeaseClaim:
        """Take or renew in a script."""
        with self._engine.errors():
            state, remaining = await self._claim(keys=[self._lease(node_id)], args=[holder, ttl_ms])
        return LeaseClaim(state=cast(Any, _STATES[int(state)]), remaining_ms=int(remaining))

    async def release(self, node_id: str, holder: str) -> None:
        """Compare-and-delete in a script."""
        with self._engine.errors():
            await self._release(keys=[self._lease(node_id)], args=[holder])

    async def holders(self, node_ids: Iterable[str]) -> dict[str, str]:
        """MGET of the lease keys."""
        nodes = sorted(set(node_ids))
        if not nodes:
            return {}
        with self._engine.errors():
            values = await self._engine.client.mget([self._lease(n) for n in nodes])
        return {
            node: value.decode() if isinstance(value, bytes) else value
            for node, value in zip(nodes, values, strict=True)
            if value
        }

    async def set_last_seen(self, user_id: int, at_ms: int) -> None:
        """HSET in the one ``presence:seen`` hash."""
        with self._engine.errors():
            await self._engine.client.hset(self._seen, str(user_id), at_ms)

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, int]:
        """HMGET of the asked users."""
        users = list(dict.fromkeys(user_ids))
        if not users:
            return {}
        with self._engine.errors():
            values = await self._engine.client.hmget(self._seen, [str(u) for u in users])
        return {u: int(v) for u, v in zip(users, values, strict=True) if v is not None}


class MemoryPresenceStore:
    """``PresenceStore`` in process memory: the embedded shape, where one process is everything."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_user: dict[int, dict[str, PresenceEntry]] = {}
        #: node → (holder, lease end on ``clock``).
        self._leases: dict[str, tuple[str, float]] = {}
        self._seen: dict[int, int] = {}

    async def put(self, entry: PresenceEntry) -> Placed:
        """Store; return the replaced entry and the user's other devices' entries."""
        devices = self._by_user.setdefault(entry.connection.user_id, {})
        previous = devices.get(entry.connection.device_id)
        devices[entry.connection.device_id] = entry
        others = [e for d, e in devices.items() if d != entry.connection.device_id]
        return Placed(previous=previous, others=others)

    async def put_many(self, entries: Iterable[PresenceEntry]) -> None:
        """Store entries whose device has none."""
        for entry in entries:
            devices = self._by_user.setdefault(entry.connection.user_id, {})
            devices.setdefault(entry.connection.device_id, entry)

    async def remove(self, entry: PresenceEntry) -> bool:
        """Delete if still current."""
        devices = self._by_user.get(entry.connection.user_id)
        if not devices or devices.get(entry.connection.device_id) != entry:
            return False
        del devices[entry.connection.device_id]
        if not devices:
            del self._by_user[entry.connection.user_id]
        return True

    async def entries(self, user_ids: Iterable[int]) -> dict[int, list[PresenceEntry]]:
        """Stored entries per user."""
        return {u: list(self._by_user[u].values()) for u in user_ids if self._by_user.get(u)}

    async def claim(self, node_id: str, holder: str, ttl_ms: int) -> LeaseClaim:
        """Take or renew."""
        now = self._clock()
        current = self._leases.get(node_id)
        if current is not None and current[1] > now and current[0] != holder:
            return LeaseClaim(state="held", remaining_ms=int((current[1] - now) * 1000))
        self._leases[node_id] = (holder, now + ttl_ms / 1000)
        live = current is not None and current[1] > now
        return LeaseClaim(state="renewed" if live else "taken")

    async def release(self, node_id: str, holder: str) -> None:
        """End the lease if ``holder`` has it."""
        current = self._leases.get(node_id)
        if current is not None and current[0] == holder:
            del self._leases[node_id]

    async def holders(self, node_ids: Iterable[str]) -> dict[str, str]:
        """Holders of live leases."""
        now = self._clock()
        live = ((n, self._leases.get(n)) for n in set(node_ids))
        return {n: lease[0] for n, lease in live if lease is not None and lease[1] > now}

    async def set_last_seen(self, user_id: int, at_ms: int) -> None:
        """Record the time."""
        self._seen[user_id] = at_ms

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, int]:
        """Recorded times of the asked users."""
        return {u: self._seen[u] for u in user_ids if u in self._seen}
