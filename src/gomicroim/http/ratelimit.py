"""Per-user token-bucket rate limiting (in process; the cluster shape swaps in Redis)."""

from __future__ import annotations

import time

from gomicroim.errors import RateLimited


class RateLimiter:
    """Allows ``rate`` requests per second per user with bursts up to ``burst``; 0 disables."""

    def __init__(self, rate: float, burst: int, *, max_users: int = 100_000):
        self._rate = rate
        self._burst = float(burst)
        self._max_users = max_users
        self._buckets: dict[int, tuple[float, float]] = {}

    def check(self, user_id: int) -> None:
        """Take one token for ``user_id``.

        Raises:
            RateLimited: when the bucket is empty, with the time until the next token.
        """
        if self._rate <= 0:
            return
        now = time.monotonic()
        tokens, last = self._buckets.get(user_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            raise RateLimited(
                f"more than {self._rate:g} requests per second; slow down",
                retry_after_s=(1.0 - tokens) / self._rate,
            )
        if len(self._buckets) >= self._max_users and user_id not in self._buckets:
            # Full buckets carry no information; dropping them bounds memory.
            self._buckets = {u: b for u, b in self._buckets.items() if b[0] < self._burst - 1}
        self._buckets[user_id] = (tokens - 1.0, now)
