"""Engine lifecycles as container resources, and what a process needs to know about them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, cast

from dependency_injector import providers


class Engine(NamedTuple):
    """A connection to an engine (database, Redis, Kafka, MongoDB) that selected adapters use.

    The root container lists only the engines the adapters chosen by config need; the app
    opens them before any role's lifecycle and closes them after the last one stopped.
    """

    #: How ``/readyz`` names it.
    name: str
    #: Opens the engine on ``init()`` and closes it on ``shutdown()``.
    resource: providers.Resource[Any]
    #: Raises :class:`gomicroim.errors.Unavailable` unless the engine answers.
    ping: Callable[[], Awaitable[None]]


@asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[None]:
    """Keep ``engine`` open for the body of the ``async with``."""
    await cast(Awaitable[Any], engine.resource.init())
    try:
        yield
    finally:
        await cast(Awaitable[None], engine.resource.shutdown())
