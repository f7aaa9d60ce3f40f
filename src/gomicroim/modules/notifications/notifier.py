"""The fan-out's offline hook: offline recipients in, notifications for their devices out."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gomicroim.clock import Clock, now_ms
from gomicroim.config import PushSettings
from gomicroim.infra.tasks import stop_tasks
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.notifications.contract import Notification, NotificationDevice
from gomicroim.modules.notifications.ports import MuteLookup, PushMetrics, PushTokenStore
from gomicroim.modules.notifications.sender import WebhookSender
from gomicroim.modules.notifications.transport import HttpxTransport

log = logging.getLogger("gomicroim.notifications")

#: Messages whose recipients are looked up together (one token query for all of them).
_RESOLVE_BATCH = 200
#: The pause after a failed lookup (database down) before the next batch is tried.
_FAILURE_PAUSE_S = 1.0


class PushNotifier:
    """Implements :class:`~gomicroim.modules.notifications.contract.OfflineNotifier`.

    :meth:`offline` only appends to a bounded queue, so the fan-out never waits on it; a
    background task looks up tokens and mutes and hands notifications to the sender.
    """

    def __init__(
        self,
        *,
        tokens: PushTokenStore,
        mutes: MuteLookup,
        sender: WebhookSender,
        settings: PushSettings,
        metrics: PushMetrics | None = None,
        clock: Clock = now_ms,
    ):
        """Queue bound and body handling come from ``settings`` (``push.*``)."""
        self._tokens = tokens
        self._mutes = mutes
        self._sender = sender
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._intake: deque[tuple[MessageRead, set[int]]] = deque()
        self._arrived = asyncio.Event()

    @property
    def pending(self) -> int:
        """Messages waiting for their recipients' tokens to be looked up."""
        return len(self._intake)

    def offline(self, message: MessageRead, user_ids: set[int]) -> None:
        """Queue ``message`` for its offline recipients ``user_ids``; never blocks.

        System messages (a group's changes) wake no phone: they wait in sync and history.
        """
        if not user_ids or message.msg_type == "system":
            return
        if len(self._intake) >= self._settings.queue_size:
            _, dropped = self._intake.popleft()
            if self._metrics is not None:
                self._metrics.push_notifications("dropped_full", len(dropped))
        self._intake.append((message, set(user_ids)))
        self._arrived.set()

    async def run(self) -> None:
        """Resolve queued messages into notifications until cancelled."""
        while True:
            while not self._intake:
                self._arrived.clear()
                await self._arrived.wait()
            take = min(len(self._intake), _RESOLVE_BATCH)
            items = [self._intake.popleft() for _ in range(take)]
            try:
                await self.resolve(items)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push notifications lost: lookup failed")
                if self._metrics is not None:
                    self._metrics.push_notifications("failed", sum(len(u) for _, u in items))
                await asyncio.sleep(_FAILURE_PAUSE_S)

    async def resolve(self, items: list[tuple[MessageRead, set[int]]]) -> None:
        """Queue one notification per recipient with tokens who has not muted the conversation."""
        tokens = await self._tokens.of_users(set().union(*(users for _, users in items)))
        now = self._clock()
        for message, users in items:
            reachable = sorted(u for u in users if u in tokens)
            if not reachable:
                continue
            muted = await self._mutes.muted_users(message.conversation_id, reachable, now)
            for user_id in reachable:
                if user_id in muted:
                    continue
                devices = [
                    NotificationDevice(device_id=t.device_id, platform=t.platform, token=t.token)
                    for t in tokens[user_id]
                ]
                self._sender.enqueue(self._notification(message, user_id, devices))

    def _notification(
        self, message: MessageRead, user_id: int, devices: list[NotificationDevice]
    ) -> Notification:
        preview = None
        if self._settings.include_body and message.msg_type == "text" and not message.recalled:
            preview = message.body[: self._settings.body_preview_chars]
        return Notification(
            recipient_id=user_id,
            devices=devices,
            conversation_id=message.conversation_id,
            session_type=message.session_type,
            seq=message.seq,
            sender_id=message.sender_id,
            msg_type=message.msg_type,
            created_at=message.created_at,
            body_preview=preview,
        )


@asynccontextmanager
async def delivering(
    notifier: PushNotifier, sender: WebhookSender, transport: HttpxTransport
) -> AsyncIterator[None]:
    """Run the lookup and the sender while the block runs; what is still queued at exit is lost."""
    tasks = [
        asyncio.create_task(notifier.run(), name="push-resolve"),
        asyncio.create_task(sender.run(), name="push-send"),
    ]
    try:
        yield
    finally:
        await stop_tasks(*tasks)
        await transport.close()
