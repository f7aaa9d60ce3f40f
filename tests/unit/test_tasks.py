"""Background tasks stop when told, even when one swallows its first cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gomicroim.infra.tasks import stop_tasks


async def _swallows_first_cancel(ticks: list[int]) -> None:
    # What a retry loop does when asyncio.timeout turned the cancellation into TimeoutError
    # (Python 3.11) and the loop caught it as an OSError: it carries on.
    swallowed = False
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True
            ticks.append(1)


async def test_a_task_that_swallows_a_cancellation_is_still_stopped() -> None:
    ticks: list[int] = []
    task = asyncio.create_task(_swallows_first_cancel(ticks))
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks(task), timeout=2)
    assert task.done()
    assert ticks == [1], "the first cancellation was swallowed, the second one stopped it"


async def test_a_task_that_never_stops_is_reported_not_waited_for_ever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        # Ignores every cancellation until the test lets it go.
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="gomicroim.tasks"):
        await asyncio.wait_for(stop_tasks(task, grace_s=0.5), timeout=2)
    assert not task.done(), "given up on, not waited for"
    assert any("stubborn" in str(getattr(r, "tasks", "")) for r in caplog.records)
    released.set()
    await asyncio.wait_for(task, timeout=1)


async def test_the_callers_own_cancellation_propagates() -> None:
    ticks: list[int] = []
    inner = asyncio.create_task(_swallows_first_cancel(ticks))
    await asyncio.sleep(0)
    stopper = asyncio.create_task(stop_tasks(inner, grace_s=30))
    await asyncio.sleep(0)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    await stop_tasks(inner)


async def test_none_and_finished_tasks_are_fine() -> None:
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await stop_tasks(None, done)
