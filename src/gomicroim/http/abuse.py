"""The server's abuse limits: which rule guards which request, keyed by user, address or name.

Login limits count *failures* per (address, username) and per username, and *attempts* per
address: a wrong password from one address for one name locks out only that pair, so someone
hammering your username from their address cannot keep you out; only guessing spread over
many addresses reaches the looser per-username ceiling, and that lasts one window. Refused
attempts are not verified and not counted as failures, so one address adds at most
``login_failures_per_ip_user`` failures to a name's ceiling per window.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

from litestar import Request

from gomicroim.config import LimitSettings
from gomicroim.errors import RateLimited
from gomicroim.http.ratelimit import RateLimiter, Rule

#: The ``app.state`` key under which the API role keeps its :class:`AbuseLimits`.
ABUSE_LIMITS = "abuse_limits"


def abuse_limits(request: Request[Any, Any, Any]) -> AbuseLimits:
    """The app's abuse limits, for a handler that charges one."""
    return cast(AbuseLimits, request.app.state[ABUSE_LIMITS])


class AbuseLimits:
    """Charges the rule for each guarded request through one :class:`RateLimiter`.

    Every method raises :class:`gomicroim.errors.RateLimited` when its limit is spent (and
    then charges nothing), or :class:`gomicroim.errors.Unavailable` when the limiter's
    storage is down and the rule fails closed (logins and registrations).
    """

    def __init__(self, limiter: RateLimiter, settings: LimitSettings):
        self._limiter = limiter
        self.requests = Rule.rate(
            "limits.requests_per_second",
            settings.requests_per_second,
            settings.burst,
            when_down="open",
            counts="requests",
        )
        self.messages = Rule.rate(
            "limits.messages_per_second",
            settings.messages_per_second,
            settings.message_burst,
            when_down="open",
            counts="messages",
        )
        window = settings.login_window_s
        self.login_pair = Rule(
            name="limits.login_failures_per_ip_user",
            amount=settings.login_failures_per_ip_user,
            window_s=window,
            when_down="closed",
            counts="wrong passwords for this username from this address",
        )
        self.login_user = Rule(
            name="limits.login_failures_per_user",
            amount=settings.login_failures_per_user,
            window_s=window,
            when_down="closed",
            counts="wrong passwords for this username",
        )
        self.login_ip = Rule(
            name="limits.login_attempts_per_ip",
            amount=settings.login_attempts_per_ip,
            window_s=window,
            when_down="closed",
            counts="login attempts from this address",
        )
        self.registrations = Rule(
            name="limits.registrations_per_ip",
            amount=settings.registrations_per_ip,
            window_s=settings.registration_window_s,
            when_down="closed",
            counts="registrations from this address",
        )
        self.refreshes = Rule(
            name="limits.refreshes_per_ip",
            amount=settings.refreshes_per_ip,
            window_s=settings.refresh_window_s,
            when_down="open",
            counts="token refreshes from this address",
        )

    async def request(self, user_id: int) -> None:
        """One authenticated request of ``user_id``."""
        await self._limiter.hit(self.requests, str(user_id))

    async def message(self, user_id: int) -> None:
        """One ``POST /messages`` of ``user_id``."""
        await self._limiter.hit(self.messages, str(user_id))

    async def login_attempt(self, ip: str, username: str) -> None:
        """Before verifying a password: refuse a locked pair or name, count the attempt."""
        await self._limiter.check(self.login_pair, ip, username)
        await self._limiter.check(self.login_user, username)
        await self._limiter.hit(self.login_ip, ip)

    async def login_failed(self, ip: str, username: str) -> None:
        """A wrong password (or unknown name) was verified for ``username`` from ``ip``."""
        for rule, key in ((self.login_pair, (ip, username)), (self.login_user, (username,))):
            # Full already (concurrent failures filled it): the next attempt is refused anyway.
            with contextlib.suppress(RateLimited):
                await self._limiter.hit(rule, *key)

    async def login_succeeded(self, ip: str, username: str) -> None:
        """The right password from ``ip``: its earlier typos for the name are forgiven."""
        await self._limiter.reset(self.login_pair, ip, username)

    async def registration(self, ip: str) -> None:
        """One registration attempt from ``ip``."""
        await self._limiter.hit(self.registrations, ip)

    async def refresh(self, ip: str) -> None:
        """One token refresh from ``ip``."""
        await self._limiter.hit(self.refreshes, ip)
