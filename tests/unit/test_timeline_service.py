"""TimelineService over the in-memory store: appends, sync limits and background expiry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from gomicroim.errors import InvalidInput
from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import TimelineFacade
from gomicroim.modules.timeline.service import TimelineService
from tests.fakes.clock import FakeClock
from tests.fakes.timeline import MemoryTimelineStore

NOW = 1_700_000_000_000
DAY = 24 * 3600 * 1000
A, B = 1, 2
MAX_PAGE = 3


def message(seq: int, *, at: int = NOW) -> MessageRead:
    return MessageRead(
        conversation_id="s:1:2",
        seq=seq,
        sender_id=A,
        to=B,
        session_type="single",
        client_msg_id=f"c{seq}",
        msg_type="text",
        body=f"message {seq}",
        created_at=at,
    )


@dataclass
class World:
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    store: MemoryTimelineStore = field(default_factory=MemoryTimelineStore)
    retention_days: float = 30
    prune_interval_s: float = 3600

    def service(self) -> TimelineService:
        return TimelineService(
            store=self.store,
            retention_days=self.retention_days,
            prune_interval_s=self.prune_interval_s,
            max_sync_page=MAX_PAGE,
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def service(world: World) -> AsyncIterator[TimelineService]:
    service = world.service()
    yield service
    await service.stop()


def test_service_implements_the_facade(service: TimelineService) -> None:
    assert isinstance(service, TimelineFacade)


# --- append and sync --------------------------------------------------------------------------


async def test_append_returns_each_users_seq(service: TimelineService) -> None:
    assert await service.append(message(1), {A, B}) == {A: 1, B: 1}
    assert await service.append(message(2), {B}) == {B: 2}
    assert await service.latest_seq(B) == 2
    assert await service.latest_seq(A) == 1


async def test_append_to_nobody_is_a_no_op(service: TimelineService) -> None:
    assert await service.append(message(1), set()) == {}
    assert await service.latest_seq(A) == 0


async def test_sync_reads_the_users_timeline_in_seq_order(service: TimelineService) -> None:
    for seq in (1, 2):
        await service.append(message(seq), {A})

    page = await service.sync(A, 0, MAX_PAGE)

    assert [(e.user_seq, e.message) for e in page.entries] == [(1, message(1)), (2, message(2))]
    assert page.latest_seq == 2
    assert not page.has_more


async def test_sync_pages_of_max_sync_page_walk_the_whole_timeline(
    service: TimelineService,
) -> None:
    for seq in range(1, 6):
        await service.append(message(seq), {A})

    first = await service.sync(A, 0, MAX_PAGE)
    rest = await service.sync(A, first.entries[-1].user_seq, MAX_PAGE)

    assert [e.user_seq for e in first.entries] == [1, 2, 3]
    assert first.has_more
    assert [e.user_seq for e in rest.entries] == [4, 5]
    assert not rest.has_more


async def test_sync_refuses_a_page_above_max_sync_page(service: TimelineService) -> None:
    with pytest.raises(InvalidInput) as error:
        await service.sync(A, 0, MAX_PAGE + 1)
    assert error.value.field == "limit"


@pytest.mark.parametrize(("after", "limit", "field"), [(-1, 10, "after"), (0, 0, "limit")])
async def test_sync_rejects_a_negative_cursor_or_an_empty_page(
    service: TimelineService, after: int, limit: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await service.sync(A, after, limit)

    assert raised.value.field == field


# --- expiry -----------------------------------------------------------------------------------


async def test_prune_expired_drops_entries_past_the_retention(
    world: World, service: TimelineService, caplog: pytest.LogCaptureFixture
) -> None:
    await service.append(message(1, at=NOW - 31 * DAY), {A, B})
    await service.append(message(2, at=NOW - 29 * DAY), {A})

    with caplog.at_level(logging.INFO, logger="gomicroim.timeline"):
        deleted = await service.prune_expired()

    assert deleted == 2
    assert world.store.prune_calls == [NOW - 30 * DAY]
    assert [e.user_seq for e in (await service.sync(A, 0, MAX_PAGE)).entries] == [2]
    assert await service.latest_seq(B) == 1
    [record] = [r for r in caplog.records if r.name == "gomicroim.timeline"]
    assert record.getMessage() == "timeline entries pruned"
    assert record.__dict__["deleted"] == 2
    assert record.__dict__["older_than_ms"] == NOW - 30 * DAY


async def test_retention_may_be_a_fraction_of_a_day(world: World) -> None:
    world.retention_days = 0.5

    await world.service().prune_expired()

    assert world.store.prune_calls == [NOW - DAY // 2]


async def test_prune_deletes_what_is_older_than_the_cutoff(service: TimelineService) -> None:
    await service.append(message(1, at=NOW - 10), {A})
    await service.append(message(2, at=NOW), {A})

    assert await service.prune(NOW) == 1
    assert await service.append(message(3), {A}) == {A: 3}


async def test_pruning_runs_at_start_and_then_every_interval(world: World) -> None:
    world.prune_interval_s = 0.01
    service = world.service()
    await service.append(message(1, at=NOW - 40 * DAY), {A})

    service.start()
    try:
        await world.store.wait_for_prunes(1)
        assert (await service.sync(A, 0, MAX_PAGE)).entries == []
        world.clock.advance(1000)
        await world.store.wait_for_prunes(3)
    finally:
        await service.stop()

    assert world.store.prune_calls[0] == NOW - 30 * DAY
    assert world.store.prune_calls[-1] == NOW + 1000 - 30 * DAY


async def test_pruning_survives_a_failing_round(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.prune_interval_s = 0.01
    world.store.fail_next.append(ConnectionError("database is down"))
    service = world.service()

    with caplog.at_level(logging.INFO, logger="gomicroim.timeline"):
        service.start()
        try:
            await world.store.wait_for_prunes(2)
        finally:
            await service.stop()

    messages = [r.getMessage() for r in caplog.records if r.name == "gomicroim.timeline"]
    assert messages[0] == "timeline pruning failed; retrying next round"
    assert "timeline entries pruned" in messages[1:]
    failure = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert failure.exc_info is not None
    assert isinstance(failure.exc_info[1], ConnectionError)


async def test_start_twice_runs_one_pruning_task(world: World) -> None:
    world.prune_interval_s = 3600
    service = world.service()

    service.start()
    service.start()
    await world.store.wait_for_prunes(1)
    await asyncio.sleep(0.02)
    await service.stop()

    assert len(world.store.prune_calls) == 1


async def test_stop_ends_pruning_and_may_be_called_again(world: World) -> None:
    world.prune_interval_s = 0.01
    service = world.service()
    await service.stop()

    service.start()
    await world.store.wait_for_prunes(1)
    await service.stop()
    calls = len(world.store.prune_calls)
    await asyncio.sleep(0.05)
    await service.stop()

    assert len(world.store.prune_calls) == calls
