"""The two waitables every socket holds, sized for an idle socket.

uvicorn gives each WebSocket an ``asyncio.Queue`` for incoming events and an ``asyncio.Event``
for flow control. An empty Queue is three deques and an Event, an Event another deque: about
2.5 KiB per socket, for a queue that has one reader and is empty almost always. These keep
the same behaviour for that use in a few slots; a waiter exists only while someone waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """An unbounded FIFO with one reader: ``put_nowait``, ``get``, ``qsize``, ``empty``.

    ``on_put``, when set, is called for an item that arrives while nobody waits in ``get``:
    a reader that runs only while there is input starts from it.
    """

    __slots__ = ("_items", "_waiter", "on_put")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None
        self.on_put: Callable[[], None] | None = None

    def put_nowait(self, item: T) -> None:
        """Append ``item`` and wake the reader."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self.on_put is not None:
            self.on_put()

    async def get(self) -> T:
        """The oldest item, waiting for one if there is none."""
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        # Few items ever wait here (parsing pauses at a few dozen), so pop(0) is cheap.
        return self._items.pop(0)

    def qsize(self) -> int:
        """How many items are waiting."""
        return len(self._items)

    def empty(self) -> bool:
        """Whether no item is waiting."""
        return not self._items


class Flag:
    """``asyncio.Event``'s ``set``, ``clear``, ``is_set`` and ``wait``, without a deque each."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        """Whether the flag is up."""
        return self._set

    def set(self) -> None:
        """Raise the flag and wake everyone waiting."""
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        """Lower the flag."""
        self._set = False

    async def wait(self) -> bool:
        """Return True once the flag is up (at once if it already is)."""
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True
