"""Presence pushes: which of this node's sockets follow whose presence, and the ``presence`` frames.

A socket's ``subscribe_presence`` replaces what it follows; ids its user may not see are
dropped without a word (a stranger looks like no user at all). Every process hears every
online/offline change (presence's shared broadcast) and sends it to its own followers only:
one dictionary lookup per change when nobody here follows the user.
"""

from __future__ import annotations

from gomicroim.gateway import frames
from gomicroim.gateway.connection import Connection
from gomicroim.modules.presence.contract import (
    PresenceChanged,
    PresenceFacade,
    PresenceViewFacade,
)


class PresenceSubscriptions:
    """Followed users per socket of this node, indexed both ways.

    Visibility is checked when a socket subscribes: a user who stops sharing a conversation
    with the follower is followed until the next ``subscribe_presence`` or reconnect.

    Args:
        view: Which users a follower may see.
        presence: Where the changes come from (:meth:`PresenceFacade.watch`).
        max_subscriptions: Distinct ids one socket may follow (``presence.max_subscriptions``).
    """

    def __init__(
        self, *, view: PresenceViewFacade, presence: PresenceFacade, max_subscriptions: int
    ):
        self._view = view
        self._max = max_subscriptions
        self._by_connection: dict[Connection, frozenset[int]] = {}
        self._by_user: dict[int, set[Connection]] = {}
        presence.watch(self.changed)

    def __len__(self) -> int:
        """Sockets following anyone."""
        return len(self._by_connection)

    async def subscribe(self, connection: Connection, user_ids: list[int]) -> str | None:
        """Follow the visible ones of ``user_ids`` in place of the socket's earlier set.

        Returns:
            An encoded ``error`` frame (``too_many_subscriptions``) when over the bound, in
            which case the earlier set stays; else None.

        Raises:
            AppError: the view could not answer (``unavailable``); the earlier set stays.
        """
        wanted = set(user_ids)
        if len(wanted) > self._max:
            return frames.encode(
                frames.ErrorFrame(
                    code="too_many_subscriptions",
                    message=f"subscribe_presence: at most {self._max} distinct user ids"
                    f" (presence.max_subscriptions), got {len(wanted)}; the previous"
                    " subscription stays",
                )
            )
        visible = await self._view.visible(connection.user_id, wanted) if wanted else set()
        if connection.closing:
            return None
        self._replace(connection, frozenset(visible))
        return None

    def drop(self, connection: Connection) -> None:
        """Forget a socket's subscription (it closed)."""
        self._replace(connection, frozenset())

    def following(self, connection: Connection) -> frozenset[int]:
        """The users this socket follows."""
        return self._by_connection.get(connection, frozenset())

    async def changed(self, event: PresenceChanged) -> None:
        """Send ``presence`` to this node's followers of ``event.user_id``."""
        followers = self._by_user.get(event.user_id)
        if not followers:
            return
        frame = frames.encode(
            frames.PresenceFrame(
                user_id=event.user_id, online=event.online, last_seen_at=event.last_seen_at
            )
        )
        for connection in list(followers):
            connection.send(frame)

    def _replace(self, connection: Connection, users: frozenset[int]) -> None:
        before = self._by_connection.pop(connection, frozenset())
        for user_id in before - users:
            followers = self._by_user.get(user_id)
            if followers is not None:
                followers.discard(connection)
                if not followers:
                    del self._by_user[user_id]
        for user_id in users - before:
            self._by_user.setdefault(user_id, set()).add(connection)
        if users:
            self._by_connection[connection] = users
