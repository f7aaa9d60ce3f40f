"""What the presence service needs: a store of connections and node leases, and a broadcast."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, Protocol

import msgspec

from gomicroim.modules.presence.contract import (
    ConnectionDisplaced,
    DeviceConnection,
    PresenceChanged,
)


class PresenceEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A connection as stored: it counts while ``holder`` holds the lease of its node."""

    connection: DeviceConnection
    #: The process that wrote it: a node restarted under the same id holds the lease with a
    #: new holder, so its predecessor's leftover entries stop counting at once.
    holder: str


class Placed(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :meth:`PresenceStore.put`, read in the same atomic step as the write."""

    #: The device's entry the put replaced.
    previous: PresenceEntry | None = None
    #: The user's entries of other devices, live or not.
    others: list[PresenceEntry] = msgspec.field(default_factory=list)


class LeaseClaim(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :meth:`PresenceStore.claim`."""

    #: ``renewed``: the caller held it; ``taken``: it was free and is the caller's now (the
    #: store may have lost the caller's entries); ``held``: another holder has it.
    state: Literal["renewed", "taken", "held"]
    #: For ``held``: how long the other holder's lease still runs.
    remaining_ms: int = 0


class PresenceStore(Protocol):
    """Connections by user and device, and the leases of the nodes that hold them.

    One entry per (user, device). An entry counts only while its node's lease is held by the
    entry's ``holder``; readers drop the others. A store may expire entries an hour after they
    were last put: holders put theirs again (:meth:`put_many`) every ten minutes.
    """

    async def put(self, entry: PresenceEntry) -> Placed:
        """Store ``entry`` as its device's entry; return what it replaced and the user's others.

        Atomic: of two devices of a user connecting at once, the second sees the first.
        """
        ...

    async def put_many(self, entries: Iterable[PresenceEntry]) -> None:
        """Store entries again (after a loss, and to keep them), keeping any newer entry.

        A device whose stored entry differs (it connected again elsewhere) keeps that one.
        """
        ...

    async def remove(self, entry: PresenceEntry) -> bool:
        """Delete ``entry`` if it is still its device's entry; False otherwise."""
        ...

    async def entries(self, user_ids: Iterable[int]) -> dict[int, list[PresenceEntry]]:
        """Every stored entry of these users, live or not; users without any are absent."""
        ...

    async def claim(self, node_id: str, holder: str, ttl_ms: int) -> LeaseClaim:
        """Take or renew ``node_id``'s lease for ``holder`` for ``ttl_ms`` from now."""
        ...

    async def release(self, node_id: str, holder: str) -> None:
        """End ``node_id``'s lease if ``holder`` holds it."""
        ...

    async def holders(self, node_ids: Iterable[str]) -> dict[str, str]:
        """The current holder of each node's lease; nodes without a live lease are absent."""
        ...

    async def set_last_seen(self, user_id: int, at_ms: int) -> None:
        """Record when the user's last device disconnected (kept until overwritten)."""
        ...

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, int]:
        """The recorded last seen times; users without one are absent."""
        ...


class DisplacedEvents(Protocol):
    """Carries :class:`ConnectionDisplaced` to the process that holds the displaced socket."""

    async def publish(self, event: ConnectionDisplaced) -> None:
        """Deliver ``event`` to every process's subscribers."""
        ...

    def subscribe(self, handler: Callable[[ConnectionDisplaced], Awaitable[None]]) -> None:
        """Call ``handler`` for every event."""
        ...

    def on_gap(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Call ``handler`` when the shared store or its messages may have been lost."""
        ...


class ChangeEvents(Protocol):
    """Carries :class:`PresenceChanged` to every process (their gateways push it)."""

    async def publish(self, event: PresenceChanged) -> None:
        """Deliver ``event`` to every process's subscribers."""
        ...

    def subscribe(self, handler: Callable[[PresenceChanged], Awaitable[None]]) -> None:
        """Call ``handler`` for every event."""
        ...


class Contacts(Protocol):
    """Who shares a conversation with whom (chat's single conversations, groups)."""

    async def shared(self, user_id: int, candidates: set[int]) -> set[int]:
        """Those of ``candidates`` with a single conversation or a live group with ``user_id``."""
        ...
