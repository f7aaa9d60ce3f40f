"""Stopping background tasks for sure, even the ones that swallow a cancellation."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("gomicroim.tasks")

#: How often a task that is still running after a cancel is cancelled again.
_RECANCEL_S = 0.2


async def stop_tasks(*tasks: asyncio.Task[Any] | None, grace_s: float = 5.0) -> None:
    """Cancel ``tasks`` and wait until every one of them has ended.

    One ``cancel()`` is not always enough. On Python 3.11, ``asyncio.timeout`` (which redis-py
    and aiokafka use on every call) turns a cancellation that arrives as its deadline fires into
    ``TimeoutError``; a loop that retries on ``OSError`` or ``TimeoutError`` catches it and runs
    on, and whoever awaits the task waits for ever. So whatever still runs is cancelled again
    every few hundred milliseconds. After ``grace_s`` the stragglers are logged as the bug they
    are and left behind, rather than hanging a shutdown.

    A cancellation of the caller itself still propagates: the tasks are awaited with
    ``asyncio.wait``, which never swallows it.
    """
    started = [task for task in tasks if task is not None]
    pending = {task for task in started if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            log.error(
                "background tasks did not stop when cancelled",
                extra={"tasks": sorted(task.get_name() for task in pending)},
            )
            return
        _, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_S, left))
    for task in started:
        # Retrieved, so asyncio does not warn that a failure was never looked at; the task's
        # own loop logged it when it happened.
        if not task.cancelled() and task.exception() is not None:
            log.debug("background task had failed", extra={"task": task.get_name()})
