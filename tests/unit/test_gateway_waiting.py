"""Inbox and Flag behave as the asyncio Queue and Event they replace, for the socket's use."""

from __future__ import annotations

import asyncio

from gomicroim.gateway.waiting import Flag, Inbox


async def test_an_inbox_hands_out_items_in_order_and_waits_when_empty() -> None:
    inbox: Inbox[int] = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()

    reader = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reader, 1) == 3


async def test_a_cancelled_read_takes_nothing_from_the_inbox() -> None:
    inbox: Inbox[str] = Inbox()
    reader = asyncio.get_running_loop().create_task(inbox.get())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.sleep(0)
    inbox.put_nowait("kept")
    assert await inbox.get() == "kept"


async def test_a_flag_wakes_every_waiter_and_returns_at_once_when_up() -> None:
    flag = Flag()
    assert not flag.is_set()
    loop = asyncio.get_running_loop()
    waiters = [loop.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)

    flag.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert await flag.wait() is True

    flag.clear()
    late = loop.create_task(flag.wait())
    await asyncio.sleep(0.01)
    assert not late.done()
    late.cancel()
    flag.set()
    assert flag.is_set()
