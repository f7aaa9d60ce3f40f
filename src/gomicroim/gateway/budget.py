"""Per-socket budget for client frames: a token bucket, then a limit on ignoring it."""

from __future__ import annotations

import enum


class Verdict(enum.Enum):
    """What to do with one client frame."""

    HANDLE = "handle"
    REFUSE = "refuse"
    CLOSE = "close"


class FrameBudget:
    """``rate`` frames per second with bursts of ``burst``; ``rate`` 0 means no limit.

    A frame over the budget is refused (answered ``rate_limited`` and discarded). Refusals are
    counted too, and forgiven at ``rate`` per second: a socket that keeps sending at more than
    twice the rate runs up ``burst`` refusals and is closed, because answering a flood frame by
    frame would still let one socket keep the event loop busy.
    """

    __slots__ = ("_burst", "_last", "_rate", "_refused", "_tokens")

    def __init__(self, rate: float, burst: int, now: float):
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._refused = 0.0
        self._last = now

    def take(self, now: float) -> Verdict:
        """Charge one frame arriving at ``now`` (seconds, monotonic)."""
        if not self._rate:
            return Verdict.HANDLE
        earned = (now - self._last) * self._rate
        self._last = now
        self._tokens = min(self._burst, self._tokens + earned)
        self._refused = max(0.0, self._refused - earned)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Verdict.HANDLE
        self._refused += 1.0
        return Verdict.CLOSE if self._refused > self._burst else Verdict.REFUSE
