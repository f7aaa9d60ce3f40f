"""The rate-limit port and its adapter on the ``limits`` library: in process or in Redis.

Every abuse limit is a :class:`Rule` charged through one :class:`RateLimiter`. The adapter,
:class:`LimitsRateLimiter`, counts with ``limits``' sliding-window counters in a storage the
container selects: :class:`BoundedMemoryStorage` for one process, ``limits``' Redis storage
(shared by every replica) when ``redis.url`` is set.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from typing import Literal, Protocol

import msgspec
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.backoff import NoBackoff
from redis.retry import Retry

from gomicroim.errors import RateLimited, Unavailable
from gomicroim.infra.redis import RedisEngine

log = logging.getLogger("gomicroim.ratelimit")

#: The fail-open warning is logged at most this often while Redis is down.
_WARN_EVERY_S = 10.0


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """One limit: at most ``amount`` hits per key in any ``window_s`` seconds.

    ``amount`` 0 disables it. ``when_down`` says what a check does when the storage (Redis)
    does not answer: ``open`` lets the request through (with a logged warning), ``closed``
    refuses it with 503 ``unavailable``.
    """

    #: The config key(s) that set it, named in the 429 message and in logs.
    name: str
    amount: int
    window_s: int
    when_down: Literal["open", "closed"]
    #: What is counted, for the 429 message: "messages", "login attempts from this address".
    counts: str

    @classmethod
    def rate(
        cls,
        name: str,
        per_second: float,
        burst: int,
        *,
        when_down: Literal["open", "closed"],
        counts: str,
    ) -> Rule:
        """A rate with bursts: ``burst`` hits over ``burst / per_second`` seconds.

        The window is whole seconds (at least one), and the amount never falls below one
        window's worth of the rate, so the average rate holds whatever the burst.
        """
        if per_second <= 0:
            return cls(name=name, amount=0, window_s=1, when_down=when_down, counts=counts)
        window_s = max(1, math.ceil(burst / per_second))
        amount = max(burst, math.ceil(per_second * window_s))
        return cls(name=name, amount=amount, window_s=window_s, when_down=when_down, counts=counts)


class RateLimiter(Protocol):
    """Counts hits per rule and key; shared by every replica when it lives in Redis."""

    async def hit(self, rule: Rule, *key: str) -> None:
        """Charge one hit to ``key`` under ``rule``.

        Raises:
            RateLimited: the budget is spent; nothing was charged. ``retry_after_s`` says
                when one hit frees up.
            Unavailable: the storage does not answer and the rule fails closed.
        """
        ...

    async def check(self, rule: Rule, *key: str) -> None:
        """Like :meth:`hit`, but only look: raise when the budget is spent, charge nothing."""
        ...

    async def reset(self, rule: Rule, *key: str) -> None:
        """Forget what ``key`` spent under ``rule``; storage errors are logged, not raised."""
        ...


class LimitsRateLimiter:
    """Implements :class:`RateLimiter` with ``limits``' sliding-window counters on ``storage``.

    A sliding-window counter keeps two integers per key, so memory and Redis traffic do not
    grow with the burst; it approximates the window from the previous one's count.
    """

    def __init__(self, storage: Storage):
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[Rule, RateLimitItem] = {}
        self._warned_at = -math.inf

    async def hit(self, rule: Rule, *key: str) -> None:
        """Charge one hit; see :meth:`RateLimiter.hit`."""
        await self._charge(rule, key, charge=True)

    async def check(self, rule: Rule, *key: str) -> None:
        """Look without charging; see :meth:`RateLimiter.check`."""
        await self._charge(rule, key, charge=False)

    async def reset(self, rule: Rule, *key: str) -> None:
        """Forget ``key``'s hits; see :meth:`RateLimiter.reset`."""
        if not rule.amount:
            return
        try:
            await self._strategy.clear(self._item(rule), *key)
        except StorageError as exc:
            log.warning("rate limit not reset", extra={"limit": rule.name, "error": str(exc)})

    async def _charge(self, rule: Rule, key: tuple[str, ...], *, charge: bool) -> None:
        if not rule.amount:
            return
        item = self._item(rule)
        try:
            allowed = await (self._strategy.hit if charge else self._strategy.test)(item, *key)
            if allowed:
                return
            stats = await self._strategy.get_window_stats(item, *key)
        except StorageError as exc:
            self._storage_down(rule, exc)
            return
        raise RateLimited(
            f"too many {rule.counts}: at most {rule.amount} in {rule.window_s} s ({rule.name}); "
            "retry after Retry-After seconds",
            # The window frees a hit at reset_time; a moment later it surely has.
            retry_after_s=max(1.0, stats.reset_time - time.time() + 0.05),
        )

    def _storage_down(self, rule: Rule, exc: StorageError) -> None:
        cause = f"{type(exc.storage_error).__name__}: {exc.storage_error}"
        if rule.when_down == "closed":
            outage = Unavailable("rate limits cannot be checked right now; retry shortly")
            outage.detail = f"rate limiter storage (Redis) for {rule.name}: {cause}"
            raise outage from exc
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "rate limiter storage does not answer; letting requests through unlimited",
                extra={"limit": rule.name, "error": cause},
            )

    def _item(self, rule: Rule) -> RateLimitItem:
        item = self._items.get(rule)
        if item is None:
            item = RateLimitItemPerSecond(rule.amount, rule.window_s, namespace=rule.name)
            self._items[rule] = item
        return item


class BoundedMemoryStorage(MemoryStorage):
    """``limits``' in-process storage with a cap on keys and an expiry sweep of bounded cost.

    The parent sweeps every key on the event loop after each hit, which at 100k users costs
    about 20 ms per request. Here a sweep runs at most every ``sweep_interval_s`` and looks
    at ``sweep_budget`` keys, rotating through them; expired keys are also dropped when read.
    Beyond ``max_keys`` the least recently swept keys are forgotten, so an attacker spraying
    addresses or usernames costs bounded memory (and can only make the server forget counts).
    """

    def __init__(
        self, *, max_keys: int, sweep_interval_s: float = 1.0, sweep_budget: int = 1000
    ) -> None:
        super().__init__()
        self._max_keys = max_keys
        self._sweep_interval_s = sweep_interval_s
        self._sweep_budget = sweep_budget
        self._next_sweep = 0.0

    @property
    def keys(self) -> int:
        """Counters held now."""
        return len(self.expirations)

    # The parent calls this (by its private, name-mangled name) from every write.
    async def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_interval_s
            self.sweep()

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count ``amount`` more for ``key``; forget the oldest keys beyond ``max_keys``."""
        count = await super().incr(key, expiry, amount)
        while len(self.expirations) > self._max_keys:
            self._forget(next(iter(self.expirations)))
        return count

    def sweep(self) -> int:
        """Drop expired keys among the next ``sweep_budget``; returns how many were dropped."""
        now = time.time()
        dropped = 0
        for key in list(itertools.islice(self.expirations, self._sweep_budget)):
            expires = self.expirations.pop(key)
            if expires <= now:
                self._forget(key)
                dropped += 1
            else:
                self.expirations[key] = expires  # to the back: the next sweep goes on from here
        return dropped

    def _forget(self, key: str) -> None:
        self.storage.pop(key, None)
        self.expirations.pop(key, None)
        self.locks.pop(key, None)


def redis_storage(engine: RedisEngine) -> RedisStorage:
    """``limits``' Redis storage on the process's Redis pool, under ``redis.key_prefix``.

    It shares the engine's connections and their timeouts (``redis.timeout_s``), so a Redis
    that is down fails a check within about two timeouts.
    """
    return RedisStorage(
        "async+redis://",  # not dialled: the engine's pool holds the address
        implementation="redispy",
        key_prefix=engine.key("limits"),
        wrap_exceptions=True,
        connection_pool=engine.client.connection_pool,  # type: ignore[arg-type]  # for redis-py
        # One immediate retry (a pooled connection may be stale after a Redis restart).
        retry=Retry(NoBackoff(), 1),  # type: ignore[arg-type]  # passed on to redis-py
    )
