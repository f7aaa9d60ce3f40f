"""Offline-push notifications with fakes: who is notified, with what, and token registration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from gomicroim.config import PushSettings
from gomicroim.errors import NotFound
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.identity.contract import DeviceRead, SessionEnded, SessionEndReason
from gomicroim.modules.notifications.contract import Notification, PushTokenSet
from gomicroim.modules.notifications.notifier import PushNotifier
from gomicroim.modules.notifications.ports import NoMutes, PushOutcome, StoredToken
from gomicroim.modules.notifications.sender import WebhookSender
from gomicroim.modules.notifications.service import NotificationsService
from tests.fakes import FakeClock
from tests.fakes.push_tokens import MemoryPushTokenStore

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
NOW = 1_700_000_000_000


class Mutes:
    """A ``MuteLookup`` with fixed mutes per conversation, recording how it was asked."""

    def __init__(self, muted: dict[str, set[int]]):
        self.muted = muted
        self.asked: list[tuple[str, list[int], int]] = []

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        self.asked.append((conversation_id, list(user_ids), now_ms))
        return self.muted.get(conversation_id, set()) & set(user_ids)


class Queue:
    """Stands in for the sender: keeps what it is handed."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []

    def enqueue(self, notification: Notification) -> None:
        self.notifications.append(notification)


class Counts:
    def __init__(self) -> None:
        self.by: Counter[str] = Counter()

    def push_notifications(self, outcome: PushOutcome, count: int) -> None:
        self.by[outcome] += count


def text(seq: int, body: str = "hello bob", *, msg_type: str = "text") -> MessageRead:
    return MessageRead(
        conversation_id="g:9",
        seq=seq,
        sender_id=ALICE,
        to=9,
        session_type="group",
        client_msg_id=f"c{seq}",
        msg_type=msg_type,  # type: ignore[arg-type]
        body=body,
        created_at=NOW + seq,
    )


async def tokens_for(store: MemoryPushTokenStore, user_id: int, *devices: str) -> None:
    for device in devices:
        await store.put(
            StoredToken(
                user_id=user_id,
                device_id=device,
                platform="fcm",
                token=f"{user_id}-{device}",
                updated_at=NOW,
            )
        )


def notifier(
    store: MemoryPushTokenStore, mutes: Any = None, **settings: Any
) -> tuple[PushNotifier, Queue, Counts]:
    queue, counts = Queue(), Counts()
    built = PushNotifier(
        tokens=store,
        mutes=mutes or NoMutes(),
        sender=queue,  # type: ignore[arg-type]
        settings=PushSettings(**settings),
        metrics=counts,
        clock=FakeClock(NOW + 100),
    )
    return built, queue, counts


async def test_one_notification_per_recipient_with_tokens_listing_all_their_devices() -> None:
    store = MemoryPushTokenStore()
    await tokens_for(store, BOB, "phone", "tablet")
    await tokens_for(store, CAROL, "phone")
    push, queue, _ = notifier(store)

    await push.resolve([(text(5), {BOB, CAROL, DAVE})])

    assert [(n.recipient_id, [d.device_id for d in n.devices]) for n in queue.notifications] == [
        (BOB, ["phone", "tablet"]),
        (CAROL, ["phone"]),
    ]
    first = msgspec.to_builtins(queue.notifications[0])
    assert first == {
        "recipient_id": BOB,
        "devices": [
            {"device_id": "phone", "platform": "fcm", "token": f"{BOB}-phone"},
            {"device_id": "tablet", "platform": "fcm", "token": f"{BOB}-tablet"},
        ],
        "conversation_id": "g:9",
        "session_type": "group",
        "seq": 5,
        "sender_id": ALICE,
        "msg_type": "text",
        "created_at": NOW + 5,
        "body_preview": "hello bob",
    }


async def test_recipients_who_muted_the_conversation_are_not_notified() -> None:
    store = MemoryPushTokenStore()
    for user in (BOB, CAROL):
        await tokens_for(store, user, "phone")
    mutes = Mutes({"g:9": {CAROL}})
    push, queue, _ = notifier(store, mutes)

    await push.resolve([(text(5), {BOB, CAROL, DAVE})])

    assert [n.recipient_id for n in queue.notifications] == [BOB]
    # Only recipients with tokens are looked up, once per message, at the current time.
    assert mutes.asked == [("g:9", [BOB, CAROL], NOW + 100)]


async def test_nobody_with_tokens_means_no_notification_and_no_mute_lookup() -> None:
    mutes = Mutes({})
    push, queue, _ = notifier(MemoryPushTokenStore(), mutes)

    await push.resolve([(text(5), {BOB, CAROL})])

    assert (queue.notifications, mutes.asked) == ([], [])


async def test_the_default_mute_lookup_mutes_nobody() -> None:
    assert await NoMutes().muted_users("g:9", [BOB, CAROL], NOW) == set()


async def test_the_preview_is_bounded_and_left_out_when_bodies_are_off() -> None:
    store = MemoryPushTokenStore()
    await tokens_for(store, BOB, "phone")
    bounded, queue, _ = notifier(store, body_preview_chars=5)
    await bounded.resolve(
        [(text(1, "héllo world"), {BOB}), (text(2, "{}", msg_type="image"), {BOB})]
    )
    assert [n.body_preview for n in queue.notifications] == ["héllo", None]

    off, queue, _ = notifier(store, include_body=False)
    await off.resolve([(text(3, "secret plans"), {BOB})])
    assert "body_preview" not in msgspec.json.decode(msgspec.json.encode(queue.notifications[0]))


async def test_the_intake_is_bounded_and_drops_the_oldest_message() -> None:
    store = MemoryPushTokenStore()
    push, _, counts = notifier(store, queue_size=2)

    push.offline(text(1), {BOB, CAROL})
    push.offline(text(2), {BOB})
    push.offline(text(3), {BOB})
    push.offline(text(4), set())  # nobody offline: not queued at all

    assert push.pending == 2
    assert counts.by == {"dropped_full": 2}


async def test_system_messages_are_not_queued_for_offline_push() -> None:
    push, _, _ = notifier(MemoryPushTokenStore())

    push.offline(
        text(1, '{"event":"member_added","actor":1,"targets":[2]}', msg_type="system"), {BOB}
    )
    push.offline(text(2), {BOB})

    assert push.pending == 1


async def test_notifications_reach_the_sender_queue() -> None:
    store = MemoryPushTokenStore()
    await tokens_for(store, BOB, "phone")
    sender = WebhookSender(transport=None, settings=PushSettings())  # type: ignore[arg-type]
    push = PushNotifier(tokens=store, mutes=NoMutes(), sender=sender, settings=PushSettings())

    await push.resolve([(text(1), {BOB})])

    assert sender.pending == 1


class Devices:
    def __init__(self, devices: dict[int, list[str]]):
        self.devices = devices

    async def devices_of(self, user_ids: set[int]) -> dict[int, list[DeviceRead]]:
        return {
            user: [
                DeviceRead(
                    user_id=user, device_id=d, client_type="app", platform=None, last_login_at=0
                )
                for d in self.devices[user]
            ]
            for user in user_ids
            if user in self.devices
        }


def service(store: MemoryPushTokenStore) -> tuple[NotificationsService, LocalBroadcast[Any]]:
    events: LocalBroadcast[Any] = LocalBroadcast("session_ended")
    built = NotificationsService(
        tokens=store,
        identity=Devices({BOB: ["phone"], CAROL: ["laptop"]}),  # type: ignore[arg-type]
        session_events=events,
        clock=FakeClock(NOW),
    )
    return built, events


async def test_a_token_is_registered_for_the_callers_own_device() -> None:
    store = MemoryPushTokenStore()
    notifications, _ = service(store)

    stored = await notifications.set_token(BOB, "phone", PushTokenSet(platform="apns", token="t1"))

    assert (stored.device_id, stored.platform, stored.token, stored.updated_at) == (
        "phone",
        "apns",
        "t1",
        NOW,
    )
    assert [t.token for t in (await store.of_users([BOB]))[BOB]] == ["t1"]


@pytest.mark.parametrize(
    ("device", "why"), [("laptop", "another user's device"), ("tablet", "never logged in")]
)
async def test_a_device_the_caller_never_used_is_not_found_and_nothing_is_stored(
    device: str, why: str
) -> None:
    store = MemoryPushTokenStore()
    notifications, _ = service(store)

    with pytest.raises(NotFound) as raised:
        await notifications.set_token(BOB, device, PushTokenSet(platform="fcm", token="t"))

    assert raised.value.code == "device_not_found", why
    assert await store.of_users([BOB, CAROL]) == {}


async def test_removing_a_token_twice_says_there_is_none_the_second_time() -> None:
    store = MemoryPushTokenStore()
    notifications, _ = service(store)
    await notifications.set_token(BOB, "phone", PushTokenSet(platform="fcm", token="t"))

    await notifications.remove_token(BOB, "phone")
    with pytest.raises(NotFound) as raised:
        await notifications.remove_token(BOB, "phone")

    assert raised.value.code == "push_token_not_found"


@pytest.mark.parametrize(("reason", "kept"), [("logout", False), ("replaced", True)])
async def test_a_logout_forgets_the_devices_token(reason: SessionEndReason, kept: bool) -> None:
    store = MemoryPushTokenStore()
    notifications, events = service(store)
    await notifications.set_token(BOB, "phone", PushTokenSet(platform="fcm", token="t"))

    await events.publish(
        SessionEnded(session_id=1, user_id=BOB, device_id="phone", reason=reason, ended_at=NOW)
    )

    assert (BOB in await store.of_users([BOB])) is kept
