"""The fan-out worker: committed messages and read events in, pushes per gateway node out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import msgspec

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import NotFound
from gomicroim.fanout.ordering import ConversationOrder, ReadAfter
from gomicroim.fanout.selector import StrategySelector
from gomicroim.fanout.strategy import FanoutStrategy
from gomicroim.gateway.contract import Push, PushBatch, PushKind, PushRouter, PushTarget
from gomicroim.infra.metrics import Metrics
from gomicroim.infra.tasks import stop_tasks
from gomicroim.modules.chat.contract import (
    GroupAudience,
    MessageCommitted,
    MessageRead,
    ReadPositionMoved,
)
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.identity.contract import IdentityFacade
from gomicroim.modules.notifications.contract import OfflineNotifier
from gomicroim.modules.presence.contract import DeviceConnection, PresenceFacade

log = logging.getLogger("gomicroim.fanout")

_encode = msgspec.json.Encoder().encode

T = TypeVar("T")


class EventSource(Protocol[T]):
    """A bus topic this worker consumes (in-process queue or a Kafka consumer group)."""

    async def consume(self, handler: Callable[[list[T]], Awaitable[None]]) -> None:
        """Call ``handler`` with each batch until cancelled."""
        ...


class ReadFrame(msgspec.Struct):
    """Payload of a ``read`` push."""

    conversation_id: str
    user_id: int
    seq: int


class FanoutWorker:
    """Finds recipients, applies each one's strategy, and routes pushes by presence.

    Events are handled one at a time in bus order, so pushes of one conversation reach a device
    in seq order, and each user's timeline grows in the same order as the pushes carry.
    """

    def __init__(
        self,
        *,
        identity: IdentityFacade,
        groups: GroupsFacade,
        presence: PresenceFacade,
        selector: StrategySelector,
        router: PushRouter,
        clock: Clock = now_ms,
        metrics: Metrics | None = None,
        read_after: ReadAfter | None = None,
        audience: GroupAudience | None = None,
        offline: OfflineNotifier | None = None,
    ):
        """``read_after`` reads committed messages back to fill seqs published out of order.

        ``audience`` narrows a group's members to those whose spell holds the message (a
        member who joined after it gets neither push nor timeline entry). ``offline`` is told,
        once per new message, which recipients have no live connection.
        """
        self._audience = audience
        self._identity = identity
        self._groups = groups
        self._presence = presence
        self._selector = selector
        self._router = router
        self._clock = clock
        self._metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []
        self._order = ConversationOrder(read_after)
        self._offline = offline

    async def handle_committed(self, events: list[MessageCommitted]) -> None:
        """Fan out a batch of committed messages; raising makes the relay retry them.

        The batch is stored strategy by strategy (one timeline transaction for all of it),
        then pushed in seq order per conversation (see :mod:`gomicroim.fanout.ordering`).
        """
        events = await self._order.arrange(events)
        await self._fan_out(events)
        self._order.handled(events)

    async def _fan_out(self, events: list[MessageCommitted]) -> None:
        plans = [(event, *await self._recipients(event.message)) for event in events]
        everyone = set().union(*(recipients for _, recipients, _ in plans))
        if not everyone:
            return
        devices = await self._identity.devices_of(everyone)
        work: dict[FanoutStrategy, list[tuple[int, set[int]]]] = defaultdict(list)
        for index, (_, recipients, group_size) in enumerate(plans):
            chosen: dict[FanoutStrategy, set[int]] = defaultdict(set)
            for user_id in recipients:
                chosen[self._selector.choose(devices.get(user_id, []), group_size)].add(user_id)
            for strategy, users in chosen.items():
                work[strategy].append((index, users))
        user_seqs: list[dict[int, int | None]] = [{} for _ in plans]
        for strategy, items in work.items():
            stored = await strategy.deliver([(plans[i][0].message, users) for i, users in items])
            for (index, _), seqs in zip(items, stored, strict=True):
                user_seqs[index].update(seqs)
        online = await self._presence.online(everyone)
        per_node: dict[str, list[Push]] = defaultdict(list)
        for (event, recipients, _), seqs in zip(plans, user_seqs, strict=True):
            message = event.message
            # A change is not pushed back to the device that made it (the sender's or an admin's).
            skip = (event.actor_id or message.sender_id, event.sender_device_id)
            kind: PushKind = event.change or "message"
            _add_pushes(per_node, kind, message, _targets(recipients, online, skip, seqs))
        await self._route(per_node)
        # After the routing: a batch that failed before it is retried whole, and would
        # otherwise notify twice.
        if self._offline is not None:
            for event, recipients, _ in plans:
                away = recipients - online.keys() - {event.message.sender_id}
                if event.change is None and away:
                    self._offline.offline(event.message, away)
        if self._metrics is not None:
            done = self._clock()
            for event in events:
                if event.change is None:
                    self._metrics.message_fanned_out((done - event.message.created_at) / 1000)

    async def handle_read(self, events: list[ReadPositionMoved]) -> None:
        """Tell the reader's other devices, and a single chat's peer, about a read.

        A settings change (``settings`` set) goes to every device of its user instead, the
        acting one included: each device shows the state it got last.
        """
        audiences = [{e.user_id} if e.peer_id is None else {e.user_id, e.peer_id} for e in events]
        online = await self._presence.online(set().union(*audiences))
        per_node: dict[str, list[Push]] = defaultdict(list)
        for event, users in zip(events, audiences, strict=True):
            if event.settings is not None:
                _add_pushes(per_node, "settings", event.settings, _targets({event.user_id}, online))
                continue
            frame = ReadFrame(event.conversation_id, event.user_id, event.seq)
            targets = _targets(users, online, (event.user_id, event.device_id))
            _add_pushes(per_node, "read", frame, targets)
        await self._route(per_node)

    async def _recipients(self, message: MessageRead) -> tuple[set[int], int | None]:
        if message.session_type == "single":
            return {message.sender_id, message.to}, None
        try:
            members = await self._groups.member_set(message.to)
        except NotFound:
            log.warning("group gone; message not fanned out", extra={"group_id": message.to})
            return set(), None
        if self._audience is None:
            return set(members.user_ids), len(members.user_ids)
        return await self._audience.group_audience(message, members), len(members.user_ids)

    async def _route(self, per_node: dict[str, list[Push]]) -> None:
        now = self._clock()
        for node_id, pushes in per_node.items():
            await self._router.route(PushBatch(node_id=node_id, created_at=now, pushes=pushes))

    def start(
        self, committed: EventSource[MessageCommitted], reads: EventSource[ReadPositionMoved]
    ) -> None:
        """Consume both topics in supervised background tasks (restarted if they die)."""
        self._tasks = [
            asyncio.create_task(
                supervise("fanout-committed", lambda: committed.consume(self.handle_committed)),
                name="fanout-committed",
            ),
            asyncio.create_task(
                supervise("fanout-read", lambda: reads.consume(self.handle_read)),
                name="fanout-read",
            ),
        ]

    async def stop(self) -> None:
        """Cancel the consumers."""
        await stop_tasks(*self._tasks)
        self._tasks = []


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    first_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    healthy_after_s: float = 60.0,
) -> None:
    """Run a consumer forever: log and restart it with growing pauses whenever it stops.

    A consumer that ran ``healthy_after_s`` before it failed starts again from the first pause.
    Only cancellation ends the supervision.
    """
    delay = first_delay_s
    while True:
        started = time.monotonic()
        try:
            await run()
            log.error("consumer returned; restarting it", extra={"consumer": name})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "consumer died; restarting it", extra={"consumer": name, "delay_s": delay}
            )
        if time.monotonic() - started >= healthy_after_s:
            delay = first_delay_s
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)


def _targets(
    users: set[int],
    online: dict[int, list[DeviceConnection]],
    skip: tuple[int, str] | None = None,
    user_seqs: dict[int, int | None] | None = None,
) -> dict[str, list[PushTarget]]:
    """The users' online devices per node, without ``skip`` (the acting user's own device)."""
    targets: dict[str, list[PushTarget]] = defaultdict(list)
    for user_id in users:
        user_seq = user_seqs.get(user_id) if user_seqs else None
        for c in online.get(user_id, ()):
            if (user_id, c.device_id) != skip:
                targets[c.node_id].append(PushTarget(user_id, c.device_id, user_seq))
    return targets


def _add_pushes(
    per_node: dict[str, list[Push]],
    kind: PushKind,
    payload: msgspec.Struct,
    targets: dict[str, list[PushTarget]],
) -> None:
    """Append one push per node; the payload is encoded once, and only if anyone is online."""
    if not targets:
        return
    raw = msgspec.Raw(_encode(payload))
    for node_id, node_targets in targets.items():
        per_node[node_id].append(Push(kind=kind, payload=raw, targets=node_targets))
