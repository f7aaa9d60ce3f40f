"""What the gateway needs from outside this node: a shared count of open connections."""

from __future__ import annotations

from typing import Protocol

import msgspec


class ConnectionSlot(msgspec.Struct, frozen=True, kw_only=True):
    """One socket as the connection limits count it."""

    user_id: int
    device_id: str
    ip: str


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a connection was refused: the limit's config key and a message naming the fix."""

    limit: str
    message: str


class ConnectionQuota(Protocol):
    """Caps sockets per user and per client address.

    In process for the embedded shape; a cluster counts in Redis so the caps hold across nodes.
    """

    async def acquire(self, slot: ConnectionSlot) -> Refusal | None:
        """Count ``slot`` in, or say which cap refuses it (then nothing is counted)."""
        ...

    async def release(self, slot: ConnectionSlot) -> None:
        """Count a slot that :meth:`acquire` granted out again."""
        ...

    async def close(self) -> None:
        """Stop any background work (lease renewal) when the gateway stops."""
        ...
