"""Typing indicators: a client's ``typing`` frame relayed to the other participants' devices.

Never stored and best effort: a relay that cannot reach a node drops it (the next keystroke
sends another). At most one relay per user and conversation per interval, whatever the client
sends.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

import msgspec

from gomicroim.clock import Clock, now_ms
from gomicroim.gateway.contract import Push, PushBatch, PushRouter, PushTarget
from gomicroim.modules.chat.contract import MessageChangesFacade
from gomicroim.modules.presence.contract import PresenceFacade

log = logging.getLogger("gomicroim.gateway")

_encode = msgspec.json.Encoder().encode


class TypingFrame(msgspec.Struct):
    """Payload of a ``typing`` push: who types in which conversation."""

    conversation_id: str
    user_id: int


class TypingThrottle:
    """At most one relayed ``typing`` per (user, conversation) per ``interval_ms``.

    Memory stays bounded: entries older than the interval are dropped once the map holds
    ``max_entries``, and if every entry is fresh the oldest half goes.
    """

    def __init__(self, interval_ms: int = 3000, max_entries: int = 100_000):
        self._interval_ms = interval_ms
        self._max_entries = max_entries
        self._last: dict[tuple[int, str], int] = {}

    def allow(self, user_id: int, conversation_id: str, now_ms: int) -> bool:
        """Whether this typing frame is relayed; records it if so."""
        key = (user_id, conversation_id)
        last = self._last.get(key)
        if last is not None and now_ms - last < self._interval_ms:
            return False
        if len(self._last) >= self._max_entries:
            self._prune(now_ms)
        self._last.pop(key, None)
        self._last[key] = now_ms
        return True

    def _prune(self, now_ms: int) -> None:
        fresh = {k: t for k, t in self._last.items() if now_ms - t < self._interval_ms}
        if len(fresh) >= self._max_entries:
            # Insertion order is time order: keep the newer half.
            fresh = dict(list(fresh.items())[len(fresh) // 2 :])
        self._last = fresh


class TypingRelay:
    """Checks the typist takes part, throttles, and pushes to the others' online devices.

    Args:
        conversations: Who takes part in a conversation (and whether the typist does).
        presence: Where the participants' devices are connected.
        router: Returns the push router (looked up per call: the gateway itself in one
            process, which is built after this relay).
        interval_s: The throttle's interval.
    """

    def __init__(
        self,
        *,
        conversations: MessageChangesFacade,
        presence: PresenceFacade,
        router: Callable[[], PushRouter],
        interval_s: float = 3.0,
        clock: Clock = now_ms,
    ):
        self._conversations = conversations
        self._presence = presence
        self._router = router
        self._throttle = TypingThrottle(interval_ms=int(interval_s * 1000))
        self._clock = clock

    async def relay(self, user_id: int, conversation_id: str) -> bool:
        """Relay one ``typing`` frame; False when throttled.

        Raises:
            AppError: the conversation id is invalid or the user does not take part in it
                (``invalid_conversation_id``, ``not_a_participant``, ``not_a_member``,
                ``group_not_found``), or presence is unavailable.
        """
        participants = await self._conversations.participants(user_id, conversation_id)
        now = self._clock()
        if not self._throttle.allow(user_id, conversation_id, now):
            return False
        others = participants - {user_id}
        if not others:
            return True
        online = await self._presence.online(others)
        per_node: dict[str, list[PushTarget]] = defaultdict(list)
        for uid, connections in online.items():
            for c in connections:
                per_node[c.node_id].append(PushTarget(uid, c.device_id))
        if not per_node:
            return True
        payload = msgspec.Raw(_encode(TypingFrame(conversation_id, user_id)))
        router = self._router()
        for node_id, targets in per_node.items():
            push = Push(kind="typing", payload=payload, targets=targets)
            await router.route(PushBatch(node_id=node_id, created_at=now, pushes=[push]))
        return True
