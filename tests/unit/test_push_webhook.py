"""The offline-push webhook sender with a fake transport: batches, signatures, retries, bounds."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from gomicroim.config import PushSettings
from gomicroim.modules.notifications.contract import Notification, NotificationDevice
from gomicroim.modules.notifications.ports import PushOutcome, WebhookError
from gomicroim.modules.notifications.sender import WebhookSender
from tests.fakes import FakeClock

SECRET = "s3cret"


class Receiver:
    """A webhook that answers with the next scripted status (or fails to answer)."""

    def __init__(self, *answers: int | None):
        self.answers = list(answers)
        self.requests: list[tuple[bytes, dict[str, str]]] = []

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append((body, dict(headers)))
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            raise WebhookError("connection refused")
        return answer

    def recipients(self, index: int) -> list[int]:
        body = json.loads(self.requests[index][0])
        return [n["recipient_id"] for n in body["notifications"]]


class Counts:
    def __init__(self) -> None:
        self.by: Counter[str] = Counter()

    def push_notifications(self, outcome: PushOutcome, count: int) -> None:
        self.by[outcome] += count


class Sleeps:
    """Records back-off pauses and moves the clock by them instead of waiting."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(int(seconds * 1000))


def notification(recipient: int, created_at: int) -> Notification:
    return Notification(
        recipient_id=recipient,
        devices=[NotificationDevice(device_id="phone", platform="apns", token=f"t{recipient}")],
        conversation_id="s:1:2",
        session_type="single",
        seq=recipient,
        sender_id=1,
        msg_type="text",
        created_at=created_at,
        body_preview="hi",
    )


def build(receiver: Receiver, **settings: Any) -> tuple[WebhookSender, Counts, FakeClock, Sleeps]:
    clock = FakeClock(1_700_000_000_000)
    sleeps = Sleeps(clock)
    counts = Counts()
    defaults: dict[str, Any] = {
        "webhook_url": "http://push.test/hook",
        "webhook_secret": SECRET,
        "flush_interval_ms": 20,
    }
    sender = WebhookSender(
        transport=receiver,
        settings=PushSettings(**{**defaults, **settings}),
        metrics=counts,
        clock=clock,
        sleep=sleeps,
    )
    return sender, counts, clock, sleeps


async def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_flush_interval() -> None:
    receiver = Receiver()
    sender, counts, clock, _ = build(receiver, batch_size=2, flush_interval_ms=60_000)
    for recipient in (1, 2, 3):
        sender.enqueue(notification(recipient, clock.now))

    first = await asyncio.wait_for(sender.next_batch(), 1)
    await sender.deliver(first)

    assert receiver.recipients(0) == [1, 2]
    assert counts.by == {"sent": 2}
    with pytest.raises(TimeoutError):  # one left, far from the 60 s flush
        await asyncio.wait_for(sender.next_batch(), 0.1)


async def test_a_partial_batch_is_sent_after_the_flush_interval() -> None:
    receiver = Receiver()
    sender, counts, clock, _ = build(receiver, batch_size=100, flush_interval_ms=30)
    task = asyncio.create_task(sender.run())
    try:
        sender.enqueue(notification(1, clock.now))
        sender.enqueue(notification(2, clock.now))
        for _ in range(100):
            if receiver.requests:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()

    assert len(receiver.requests) == 1
    assert receiver.recipients(0) == [1, 2]
    assert counts.by == {"sent": 2}


async def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body() -> None:
    receiver = Receiver()
    sender, _, clock, _ = build(receiver)

    await sender.deliver([notification(1, clock.now)])

    body, headers = receiver.requests[0]
    timestamp = headers["X-Gomicroim-Timestamp"]
    assert timestamp == str(clock.now // 1000)
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Gomicroim-Signature"] == f"sha256={expected.hexdigest()}"
    assert headers["Content-Type"] == "application/json"
    forged = hmac.new(b"other", f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Gomicroim-Signature"] != f"sha256={forged.hexdigest()}"


async def test_server_errors_and_lost_connections_are_retried_with_doubling_pauses() -> None:
    receiver = Receiver(500, None, 503, 200)
    sender, counts, clock, sleeps = build(receiver, retry_backoff_ms=1000, max_backoff_ms=2500)

    await sender.deliver([notification(1, clock.now)])

    assert len(receiver.requests) == 4
    assert sleeps.pauses == [1.0, 2.0, 2.5]
    assert counts.by == {"retried": 3, "sent": 1}
    # One delivery id across the tries, so the receiver can tell a retry from a new batch.
    assert len({headers["X-Gomicroim-Delivery"] for _, headers in receiver.requests}) == 1
    # Every try is signed anew with its own time.
    stamps = [headers["X-Gomicroim-Timestamp"] for _, headers in receiver.requests]
    assert stamps == sorted(stamps)
    assert stamps[0] != stamps[-1]


async def test_a_batch_out_of_tries_is_counted_failed() -> None:
    receiver = Receiver(500, 500, 500)
    sender, counts, clock, _ = build(receiver, max_attempts=3)

    await sender.deliver([notification(1, clock.now), notification(2, clock.now)])

    assert len(receiver.requests) == 3
    assert counts.by == {"retried": 4, "failed": 2}


async def test_a_client_error_is_not_retried_but_too_many_requests_is() -> None:
    refused = Receiver(400)
    sender, counts, clock, _ = build(refused)
    await sender.deliver([notification(1, clock.now)])
    assert (len(refused.requests), counts.by) == (1, {"failed": 1})

    throttled = Receiver(429, 200)
    sender, counts, clock, _ = build(throttled)
    await sender.deliver([notification(1, clock.now)])
    assert (len(throttled.requests), counts.by) == (2, {"retried": 1, "sent": 1})


async def test_notifications_past_the_deadline_are_dropped_even_between_retries() -> None:
    receiver = Receiver(500, 500)
    sender, counts, clock, _ = build(receiver, deadline_s=10, retry_backoff_ms=4_000)
    stale = notification(1, clock.now - 11_000)
    ageing = notification(2, clock.now - 7_000)
    fresh = notification(3, clock.now)

    await sender.deliver([stale, ageing, fresh])

    # Try 1 without the stale one; 4 s later the ageing one is 11 s old; 8 s later (try 3)
    # the fresh one is 12 s old too, so nothing is left to send.
    assert [receiver.recipients(i) for i in range(len(receiver.requests))] == [[2, 3], [3]]
    assert counts.by == {"dropped_deadline": 3, "retried": 3}


async def test_a_full_queue_drops_its_oldest_notification_and_counts_it() -> None:
    receiver = Receiver()
    sender, counts, clock, _ = build(receiver, queue_size=2, batch_size=10)
    for recipient in (1, 2, 3):
        sender.enqueue(notification(recipient, clock.now))

    assert sender.pending == 2
    await sender.deliver(await asyncio.wait_for(sender.next_batch(), 1))

    assert receiver.recipients(0) == [2, 3]
    assert counts.by == {"dropped_full": 1, "sent": 2}
