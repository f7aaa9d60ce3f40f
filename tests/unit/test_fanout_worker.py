"""The fan-out worker with fakes: who is stored for, who is pushed, in what order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from gomicroim.config import FanoutSettings
from gomicroim.fanout.selector import StrategySelector, build_strategies
from gomicroim.fanout.worker import FanoutWorker
from gomicroim.gateway.contract import PushTarget
from gomicroim.modules.chat.contract import (
    ConversationSettings,
    MessageCommitted,
    MessageRead,
    ReadPositionMoved,
)
from gomicroim.modules.groups.contract import MemberSet
from gomicroim.modules.identity.contract import ClientType, DeviceRead
from gomicroim.modules.presence.contract import DeviceConnection
from gomicroim.modules.timeline.service import TimelineService
from tests.fakes.presence import memory_presence
from tests.fakes.push import RecordingRouter
from tests.fakes.timeline import MemoryTimelineStore

ALICE, BOB, CAROL = 1, 2, 3
GROUP = 7


class Directory:
    """Devices per user, as identity would answer."""

    def __init__(self, devices: dict[int, list[ClientType]]):
        self._devices = {
            user: [
                DeviceRead(
                    user_id=user,
                    device_id=f"{kind}-{user}",
                    client_type=kind,
                    platform=None,
                    last_login_at=0,
                )
                for kind in kinds
            ]
            for user, kinds in devices.items()
        }

    async def devices_of(self, user_ids: set[int]) -> dict[int, list[DeviceRead]]:
        return {u: self._devices[u] for u in user_ids if u in self._devices}


class Groups:
    def __init__(self, members: set[int]):
        self._members = frozenset(members)

    async def member_set(self, group_id: int) -> MemberSet:
        return MemberSet(group_id=group_id, version=1, user_ids=self._members)


class JoinedAt:
    """Chat's answer of who may get a group message: members who joined at or before it."""

    def __init__(self, joined: dict[int, int]):
        self._joined = joined

    async def group_audience(self, message: MessageRead, members: MemberSet) -> set[int]:
        return {u for u in members.user_ids if self._joined.get(u, 1) <= message.seq}


class OfflineRecorder:
    """Records what the worker hands the offline-push hook."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, set[int]]] = []

    def offline(self, message: MessageRead, user_ids: set[int]) -> None:
        self.calls.append((message.seq, user_ids))


class World:
    def __init__(
        self,
        *,
        write_max_group_size: int = 2000,
        audience: JoinedAt | None = None,
        offline: object = None,
    ):
        self.presence, self.presence_store = memory_presence()
        self.router = RecordingRouter()
        self.timeline = TimelineService(
            store=MemoryTimelineStore(), retention_days=30, prune_interval_s=3600, max_sync_page=100
        )
        settings = FanoutSettings(write_max_group_size=write_max_group_size)
        self.worker = FanoutWorker(
            identity=Directory(  # type: ignore[arg-type]
                {ALICE: ["app", "web"], BOB: ["app"], CAROL: ["web"]}
            ),
            groups=Groups({ALICE, BOB, CAROL}),  # type: ignore[arg-type]
            presence=self.presence,
            selector=StrategySelector(
                build_strategies(settings, self.timeline),
                settings.client_strategies,
                write_max_group_size=write_max_group_size,
            ),
            router=self.router,
            audience=audience,
            offline=offline,  # type: ignore[arg-type]
        )

    async def online(self, user: int, device: str) -> None:
        # The gateway's lease lifecycle is not running here: hold node-1's lease for it.
        await self.presence_store.claim("node-1", self.presence.holder, 60_000)
        await self.presence.connected(
            DeviceConnection(
                user_id=user,
                device_id=device,
                client_type="app",
                node_id="node-1",
                connection_id=f"{user}-{device}",
            )
        )

    def pushed(self) -> list[tuple[str, int, list[PushTarget]]]:
        """(kind, message seq or read seq, targets) in routing order."""
        out: list[tuple[str, int, list[PushTarget]]] = []
        for batch in self.router.batches:
            for push in batch.pushes:
                payload = json.loads(bytes(push.payload))
                targets = sorted(push.targets, key=lambda t: (t.user_id, t.device_id))
                out.append((push.kind, payload["seq"], targets))
        return out


def message(
    seq: int, *, sender: int = ALICE, to: int = BOB, group: bool = False
) -> MessageCommitted:
    if group:
        conversation, session = f"g:{GROUP}", "group"
    else:
        conversation, session = f"s:{min(sender, to)}:{max(sender, to)}", "single"
    return MessageCommitted(
        message=MessageRead(
            conversation_id=conversation,
            seq=seq,
            sender_id=sender,
            to=GROUP if group else to,
            session_type=session,  # type: ignore[arg-type]
            client_msg_id=f"c{seq}",
            msg_type="text",
            body="hi",
            created_at=seq,
        ),
        sender_device_id="app-1",
    )


async def test_single_chat_stores_for_app_users_and_pushes_every_other_device() -> None:
    world = World()
    for user, device in ((ALICE, "app-1"), (ALICE, "web-1"), (BOB, "app-2")):
        await world.online(user, device)

    await world.worker.handle_committed([message(1)])

    # Alice has an app device, so her timeline holds her own message too; the sending device
    # is not pushed, her web device is, with her user seq.
    assert world.pushed() == [
        ("message", 1, [PushTarget(ALICE, "web-1", 1), PushTarget(BOB, "app-2", 1)])
    ]
    assert (await world.timeline.sync(BOB, 0)).latest_seq == 1
    assert (await world.timeline.sync(ALICE, 0)).latest_seq == 1


async def test_web_only_users_get_pushes_without_user_seq_and_no_timeline() -> None:
    world = World()
    await world.online(CAROL, "web-3")

    await world.worker.handle_committed([message(1, to=CAROL)])

    assert world.pushed() == [("message", 1, [PushTarget(CAROL, "web-3", None)])]
    assert (await world.timeline.sync(CAROL, 0)).latest_seq == 0


async def test_a_batch_is_pushed_in_order_with_consecutive_user_seqs() -> None:
    world = World()
    await world.online(BOB, "app-2")

    await world.worker.handle_committed([message(1), message(2), message(3)])

    assert [(seq, targets) for _, seq, targets in world.pushed()] == [
        (1, [PushTarget(BOB, "app-2", 1)]),
        (2, [PushTarget(BOB, "app-2", 2)]),
        (3, [PushTarget(BOB, "app-2", 3)]),
    ]


async def test_a_replayed_event_keeps_its_user_seq() -> None:
    world = World()
    await world.worker.handle_committed([message(1)])
    await world.worker.handle_committed([message(1), message(2)])

    page = await world.timeline.sync(BOB, 0)
    assert [(e.user_seq, e.message.seq) for e in page.entries] == [(1, 1), (2, 2)]


@pytest.mark.parametrize(("limit", "stored"), [(3, True), (2, False)])
async def test_groups_above_write_max_group_size_store_nothing(limit: int, stored: bool) -> None:
    world = World(write_max_group_size=limit)
    await world.online(BOB, "app-2")
    await world.online(CAROL, "web-3")

    await world.worker.handle_committed([message(1, group=True)])

    expected_seq = 1 if stored else None
    assert world.pushed() == [
        ("message", 1, [PushTarget(BOB, "app-2", expected_seq), PushTarget(CAROL, "web-3", None)])
    ]
    assert (await world.timeline.sync(BOB, 0)).latest_seq == (1 if stored else 0)


async def test_a_member_who_joined_after_a_group_message_gets_neither_push_nor_entry() -> None:
    world = World(audience=JoinedAt({BOB: 2}))
    await world.online(BOB, "app-2")
    await world.online(CAROL, "web-3")

    await world.worker.handle_committed([message(1, group=True), message(2, group=True)])

    assert world.pushed() == [
        ("message", 1, [PushTarget(CAROL, "web-3", None)]),
        ("message", 2, [PushTarget(BOB, "app-2", 1), PushTarget(CAROL, "web-3", None)]),
    ]
    page = await world.timeline.sync(BOB, 0)
    assert [e.message.seq for e in page.entries] == [2]


async def test_read_events_reach_the_readers_other_devices_and_the_peer() -> None:
    world = World()
    for user, device in ((ALICE, "app-1"), (ALICE, "web-1"), (BOB, "app-2"), (CAROL, "web-3")):
        await world.online(user, device)

    await world.worker.handle_read(
        [
            ReadPositionMoved(
                conversation_id="s:1:2", user_id=ALICE, device_id="app-1", seq=4, peer_id=BOB
            )
        ]
    )

    assert world.pushed() == [("read", 4, [PushTarget(ALICE, "web-1"), PushTarget(BOB, "app-2")])]


async def test_a_settings_change_reaches_every_device_of_its_user_only() -> None:
    world = World()
    for user, device in ((ALICE, "app-1"), (ALICE, "web-1"), (BOB, "app-2")):
        await world.online(user, device)
    settings = ConversationSettings(conversation_id="s:1:2", muted_until=None, pinned=True)

    await world.worker.handle_read(
        [
            ReadPositionMoved(
                conversation_id="s:1:2",
                user_id=ALICE,
                device_id="app-1",
                seq=0,
                peer_id=None,
                settings=settings,
            )
        ]
    )

    [batch] = world.router.batches
    [push] = batch.pushes
    assert push.kind == "settings"
    assert json.loads(bytes(push.payload)) == {
        "conversation_id": "s:1:2",
        "muted_until": None,
        "pinned": True,
    }
    assert sorted(push.targets, key=lambda t: t.device_id) == [
        PushTarget(ALICE, "app-1"),
        PushTarget(ALICE, "web-1"),
    ]


class FlakySource:
    """An event source whose consumer dies on its first run, then delivers ``events``."""

    def __init__(self, events: list[MessageCommitted]):
        self.events = events
        self.runs = 0

    async def consume(self, handler: Callable[[list[MessageCommitted]], Awaitable[None]]) -> None:
        self.runs += 1
        if self.runs == 1:
            raise ConnectionError("broker connection lost")
        await handler(self.events)
        await asyncio.Event().wait()  # then idle, as a consumer does


class IdleSource:
    async def consume(self, handler: Callable[[list[ReadPositionMoved]], Awaitable[None]]) -> None:
        await asyncio.Event().wait()


async def test_a_consumer_that_dies_is_restarted_and_its_events_still_delivered() -> None:
    world = World()
    await world.online(BOB, "app-2")
    source = FlakySource([message(1)])

    world.worker.start(source, IdleSource())
    try:
        for _ in range(100):
            if world.pushed():
                break
            await asyncio.sleep(0.02)
    finally:
        await world.worker.stop()

    assert source.runs == 2
    assert [(kind, seq) for kind, seq, _ in world.pushed()] == [("message", 1)]


async def test_the_offline_hook_hears_each_new_message_once_with_its_offline_recipients() -> None:
    offline = OfflineRecorder()
    world = World(offline=offline)
    await world.online(BOB, "app-2")

    await world.worker.handle_committed(
        [message(1, group=True), message(2, to=CAROL), message(3, to=BOB)]
    )

    # Alice sent all three (and is offline): she is never told of her own messages. Bob is
    # online; Carol is not. Nobody offline for message 3: no call.
    assert offline.calls == [(1, {CAROL}), (2, {CAROL})]


async def test_the_offline_hook_skips_recalls_and_edits() -> None:
    offline = OfflineRecorder()
    world = World(offline=offline)
    recall = MessageCommitted(
        message=msgspec.structs.replace(message(1, to=CAROL).message, revision=1, recalled=True),
        sender_device_id="app-1",
        change="recall",
        actor_id=ALICE,
    )

    await world.worker.handle_committed([message(1, to=CAROL), recall])

    assert offline.calls == [(1, {CAROL})]
