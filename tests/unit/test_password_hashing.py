"""Password hashing is bounded: a flood of logins is refused at once, not queued without end."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.errors import Unavailable
from gomicroim.modules.identity.passwords import Argon2Hasher


async def test_hashes_beyond_the_running_and_waiting_bound_answer_busy_at_once() -> None:
    hasher = Argon2Hasher(time_cost=1, memory_kib=8192, max_concurrent=1, max_waiting=1)

    results = await asyncio.gather(
        *(hasher.hash(f"password-{n}") for n in range(4)), return_exceptions=True
    )

    busy = [r for r in results if isinstance(r, Unavailable)]
    assert len(busy) == 2, results
    assert all((b.status, b.code) == (503, "server_busy") for b in busy)
    assert all(b.retry_after_s >= 1 for b in busy)
    hashes = [r for r in results if isinstance(r, str)]
    assert len(hashes) == 2
    assert await hasher.verify(hashes[0], "password-0")
    assert hasher.pending == 0


async def test_a_cancelled_waiter_frees_its_place() -> None:
    hasher = Argon2Hasher(time_cost=3, memory_kib=8192, max_concurrent=1, max_waiting=1)
    running = asyncio.create_task(hasher.hash("first"))
    waiting = asyncio.create_task(hasher.hash("second"))
    await asyncio.sleep(0)
    assert hasher.pending == 2

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert hasher.pending == 1
    await running
    assert await hasher.verify(await hasher.hash("third"), "third")
