"""Per-user token buckets."""

from __future__ import annotations

import time

import pytest

from gomicroim.errors import RateLimited
from gomicroim.http.ratelimit import RateLimiter


def allowed(limiter: RateLimiter, user_id: int, attempts: int) -> int:
    count = 0
    for _ in range(attempts):
        try:
            limiter.check(user_id)
        except RateLimited:
            continue
        count += 1
    return count


def test_a_user_may_burst_then_is_limited() -> None:
    limiter = RateLimiter(rate=1, burst=5)

    assert allowed(limiter, 1, 5) == 5
    with pytest.raises(RateLimited) as err:
        limiter.check(1)

    assert (err.value.status, err.value.code) == (429, "rate_limited")
    assert 0 < err.value.retry_after_s <= 1.0


def test_users_have_separate_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=3)
    allowed(limiter, 1, 10)

    assert allowed(limiter, 2, 3) == 3


def test_tokens_come_back_over_time() -> None:
    limiter = RateLimiter(rate=500, burst=2)
    assert allowed(limiter, 1, 5) == 2

    time.sleep(0.01)  # 5 tokens' worth, capped at the burst of 2

    assert allowed(limiter, 1, 5) == 2


def test_a_zero_rate_disables_limiting() -> None:
    limiter = RateLimiter(rate=0, burst=1)

    assert allowed(limiter, 1, 1000) == 1000


def test_forgetting_idle_users_does_not_free_a_limited_one() -> None:
    limiter = RateLimiter(rate=0.001, burst=2, max_users=3)
    allowed(limiter, 1, 2)

    for user_id in range(2, 50):
        limiter.check(user_id)

    with pytest.raises(RateLimited):
        limiter.check(1)
