"""Presence as one user may see it: the visibility rule over the connection registry."""

from __future__ import annotations

from collections.abc import Iterable

from gomicroim.errors import InvalidInput
from gomicroim.modules.chat.contract import ChatFacade
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.presence.contract import (
    MAX_QUERY_IDS,
    PresenceFacade,
    PresenceList,
)
from gomicroim.modules.presence.ports import Contacts


class SharedConversations:
    """``Contacts`` from chat's single conversations and groups' live memberships.

    Two queries at most, each by primary key or index: the single conversations first, then
    groups only for the candidates still unresolved.
    """

    def __init__(self, *, chat: ChatFacade, groups: GroupsFacade):
        self._chat = chat
        self._groups = groups

    async def shared(self, user_id: int, candidates: set[int]) -> set[int]:
        """Candidates with a single conversation or a live group; see :class:`Contacts`."""
        others = candidates - {user_id}
        if not others:
            return set()
        peers = await self._chat.single_peers(user_id, others)
        rest = others - peers
        if not rest:
            return peers
        return peers | await self._groups.co_members(user_id, rest)


class PresenceView:
    """Implements :class:`PresenceViewFacade`: presence filtered by who shares a conversation."""

    def __init__(
        self, *, presence: PresenceFacade, contacts: Contacts, max_ids: int = MAX_QUERY_IDS
    ):
        self._presence = presence
        self._contacts = contacts
        self._max_ids = max_ids

    async def visible(self, caller_id: int, user_ids: Iterable[int]) -> set[int]:
        """The users the caller may see; see :meth:`PresenceViewFacade.visible`."""
        wanted = set(user_ids)
        out = wanted & {caller_id}
        others = wanted - out
        if others:
            out |= await self._contacts.shared(caller_id, others)
        return out

    async def presence(self, caller_id: int, user_ids: list[int]) -> PresenceList:
        """Presence of the visible users; see :meth:`PresenceViewFacade.presence`."""
        asked = list(dict.fromkeys(user_ids))
        if len(asked) > self._max_ids:
            raise InvalidInput(
                f"user_ids: at most {self._max_ids} distinct ids per request, got {len(asked)};"
                " split the request",
                code="too_many_user_ids",
                field="user_ids",
            )
        visible = await self.visible(caller_id, asked)
        shown = [u for u in asked if u in visible]
        states = await self._presence.states(shown)
        return PresenceList(presence=[states[u] for u in shown])
