"""A clock tests move by hand."""

from __future__ import annotations

from gomicroim.clock import now_ms


class FakeClock:
    """Callable like :data:`gomicroim.clock.Clock`; starts at the real time so JWTs stay valid."""

    def __init__(self, start_ms: int | None = None):
        self.now = now_ms() if start_ms is None else start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        """Move forward ``ms`` milliseconds; return the new time."""
        self.now += ms
        return self.now
