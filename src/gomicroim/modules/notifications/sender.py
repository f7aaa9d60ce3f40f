"""The webhook sender: a bounded queue of notifications, posted in signed batches with retries."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

import msgspec

from gomicroim.clock import Clock, now_ms
from gomicroim.config import PushSettings
from gomicroim.modules.notifications.contract import Notification, NotificationBatch
from gomicroim.modules.notifications.ports import (
    PushMetrics,
    PushOutcome,
    WebhookError,
    WebhookTransport,
)

log = logging.getLogger("gomicroim.notifications")

_encode = msgspec.json.Encoder().encode

SIGNATURE_HEADER = "X-Gomicroim-Signature"
TIMESTAMP_HEADER = "X-Gomicroim-Timestamp"
DELIVERY_HEADER = "X-Gomicroim-Delivery"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Gomicroim-Signature`` value: HMAC-SHA256 of ``<timestamp>.<body>``.

    The timestamp is signed with the body so a receiver that refuses old timestamps cannot be
    fed a recorded request again.
    """
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    # Other 4xx answers say the request itself is wrong: sending it again changes nothing.
    return status >= 500 or status in (408, 429)


class WebhookSender:
    """Posts queued notifications to ``push.webhook_url`` in batches, one batch at a time.

    A batch is sent when ``batch_size`` notifications wait, or ``flush_interval_ms`` after the
    first of them was queued. A failed try (5xx, 408, 429, no answer) is repeated after a pause
    that starts at ``retry_backoff_ms`` and doubles up to ``max_backoff_ms``, at most
    ``max_attempts`` tries in all. Before every try, notifications whose message was committed
    more than ``deadline_s`` ago are dropped. A full queue drops its oldest notification.
    """

    def __init__(
        self,
        *,
        transport: WebhookTransport,
        settings: PushSettings,
        metrics: PushMetrics | None = None,
        clock: Clock = now_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        """``clock`` (Unix ms) stamps signatures and checks deadlines; ``sleep`` backs off."""
        self._transport = transport
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._queue: deque[Notification] = deque()
        self._arrived = asyncio.Event()

    @property
    def pending(self) -> int:
        """Notifications queued and not yet taken into a batch."""
        return len(self._queue)

    def enqueue(self, notification: Notification) -> None:
        """Queue one notification; never blocks. A full queue drops its oldest one."""
        if len(self._queue) >= self._settings.queue_size:
            # The oldest is the nearest to its deadline, and the least worth a wake-up.
            self._queue.popleft()
            self._count("dropped_full", 1)
        self._queue.append(notification)
        self._arrived.set()

    async def run(self) -> None:
        """Send batches until cancelled."""
        while True:
            batch = await self.next_batch()
            try:
                await self.deliver(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push webhook batch lost", extra={"notifications": len(batch)})
                self._count("failed", len(batch))

    async def next_batch(self) -> list[Notification]:
        """Wait for the next batch: full, or ``flush_interval_ms`` after its first arrived."""
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        flush_at = loop.time() + self._settings.flush_interval_ms / 1000
        size = self._settings.batch_size
        while len(self._queue) < size and (left := flush_at - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        return [self._queue.popleft() for _ in range(min(size, len(self._queue)))]

    async def deliver(self, batch: list[Notification]) -> None:
        """Post ``batch`` until it is accepted, refused, out of tries or past its deadline."""
        delivery = uuid.uuid4().hex
        delay_ms = self._settings.retry_backoff_ms
        for attempt in range(1, self._settings.max_attempts + 1):
            batch = self._unexpired(batch)
            if not batch:
                return
            status = await self._post(batch, delivery)
            if status is not None and 200 <= status < 300:
                self._count("sent", len(batch))
                return
            if status is not None and not _retryable(status):
                log.error(
                    "push webhook refused a batch",
                    extra={"status": status, "notifications": len(batch), "delivery": delivery},
                )
                break
            if attempt == self._settings.max_attempts:
                break
            self._count("retried", len(batch))
            await self._sleep(min(delay_ms, self._settings.max_backoff_ms) / 1000)
            delay_ms *= 2
        self._count("failed", len(batch))

    async def _post(self, batch: list[Notification], delivery: str) -> int | None:
        body = _encode(NotificationBatch(notifications=batch))
        timestamp = str(self._clock() // 1000)
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._settings.webhook_secret, timestamp, body),
            DELIVERY_HEADER: delivery,
        }
        try:
            return await self._transport.post(body, headers)
        except WebhookError as exc:
            log.warning("push webhook unreachable", extra={"error": str(exc)})
            return None

    def _unexpired(self, batch: list[Notification]) -> list[Notification]:
        oldest = self._clock() - int(self._settings.deadline_s * 1000)
        kept = [n for n in batch if n.created_at >= oldest]
        if len(kept) < len(batch):
            self._count("dropped_deadline", len(batch) - len(kept))
        return kept

    def _count(self, outcome: PushOutcome, count: int) -> None:
        if self._metrics is not None and count:
            self._metrics.push_notifications(outcome, count)
