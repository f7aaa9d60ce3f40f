"""Ports of the notifications module: the token store, mutes, the webhook transport, metrics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

import msgspec


class StoredToken(msgspec.Struct, frozen=True, kw_only=True):
    """One device's push token as stored."""

    user_id: int
    device_id: str
    platform: str
    token: str
    updated_at: int


class PushTokenStore(Protocol):
    """Push tokens, at most one per (user, device)."""

    async def put(self, token: StoredToken) -> StoredToken:
        """Store ``token``, replacing the device's earlier one."""
        ...

    async def delete(self, user_id: int, device_id: str) -> bool:
        """Forget the device's token; False if it had none."""
        ...

    async def of_users(self, user_ids: Iterable[int]) -> dict[int, list[StoredToken]]:
        """Every token of each user, by device id; users with none are absent."""
        ...


class MuteLookup(Protocol):
    """Who has muted a conversation; chat owns the mutes, the merger wires its adapter."""

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """The users among ``user_ids`` who have muted ``conversation_id`` at ``now_ms``."""
        ...


class NoMutes:
    """The default :class:`MuteLookup`: nobody has muted anything."""

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """Always the empty set."""
        return set()


class WebhookError(Exception):
    """The POST did not get an answer: refused connection, reset, timeout, bad URL."""


class WebhookTransport(Protocol):
    """Sends one signed POST to the webhook."""

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` with ``headers`` to the configured URL.

        Returns:
            The HTTP status of the answer.

        Raises:
            WebhookError: no answer arrived.
        """
        ...


#: What happened to notifications: posted (2xx), a retry after a failed try, given up after
#: push.max_attempts or an answer that retrying cannot fix (4xx), or dropped unsent.
PushOutcome = Literal["sent", "retried", "failed", "dropped_full", "dropped_deadline"]


class PushMetrics(Protocol):
    """Counters of the webhook sender (see :class:`gomicroim.infra.metrics.Metrics`)."""

    def push_notifications(self, outcome: PushOutcome, count: int) -> None:
        """Count ``count`` notifications that ended (or were retried) with ``outcome``."""
        ...
