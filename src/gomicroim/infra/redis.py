"""Redis lifecycle: the client, readiness, key prefix, errors as 503, and loss detection.

One :class:`RedisEngine` per process. It opens with the app (only when ``redis.url`` is set)
and gives the Redis adapters three things besides the client:

* ``errors()``: connection-class failures become :class:`gomicroim.errors.Unavailable`, which
  the HTTP edge answers with 503; every command times out after ``redis.timeout_s``;
* one pub/sub connection for the whole process (:meth:`RedisEngine.subscribe`), which
  reconnects by itself;
* ``on_reset`` handlers, called whenever shared state or events may have been lost: Redis
  came back after an outage, the pub/sub connection was re-established, or the marker key
  this engine keeps is gone (Redis restarted without persistence, or was flushed). Adapters
  re-register what they own (presence), reload what the database remembers (revocations),
  and drop caches whose invalidations may have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from gomicroim.config import RedisSettings
from gomicroim.errors import Unavailable
from gomicroim.infra.database import describe_url
from gomicroim.infra.tasks import stop_tasks

log = logging.getLogger("gomicroim.redis")

#: What counts as "Redis is not reachable" (BusyLoadingError, a restart still loading its
#: data, is a ConnectionError too).
CONNECTION_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)

ResetHandler = Callable[[], Awaitable[None]]
MessageHandler = Callable[[bytes], Awaitable[None]]

_MAX_BACKOFF_S = 2.0


class RedisEngine:
    """The process's Redis client, pub/sub connection and loss detection.

    The client connects lazily, so adapters can be built before the app starts; :meth:`start`
    checks the server answers and starts the watch and the subscriber.
    """

    def __init__(self, settings: RedisSettings):
        self.prefix = settings.key_prefix
        #: Names this process in Redis: the holder of its presence leases, the origin of its
        #: broadcasts (so it can skip its own echo).
        self.instance = secrets.token_hex(8)
        self._url = settings.url
        self._check_interval_s = settings.check_interval_s
        self.client: Redis = Redis.from_url(
            settings.url,
            socket_timeout=settings.timeout_s,
            socket_connect_timeout=settings.timeout_s,
            # One immediate retry: a pooled connection may be stale after a Redis restart,
            # and a fresh one then answers; a Redis that is down fails within two timeouts.
            retry=Retry(NoBackoff(), 1),
            max_connections=settings.max_connections,
        )
        # Subscribed sockets stay idle for long: no read timeout, a ping keeps them honest;
        # no retry, so every reconnect passes through the listener and counts as a gap.
        self._subscriber: Redis = Redis.from_url(
            settings.url,
            socket_connect_timeout=settings.timeout_s,
            health_check_interval=max(1, int(settings.check_interval_s * 5)),
            retry=Retry(NoBackoff(), 0),
        )
        self._alive_key = self.key("alive")
        self._wake_channel = self.key("engine", self.instance)
        self._background: set[asyncio.Future[Any]] = set()
        self._resets: list[ResetHandler] = []
        self._channels: dict[str, list[MessageHandler]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._reset_task: asyncio.Task[None] | None = None
        self._reset_again = False
        self._subscribed = asyncio.Event()

    def key(self, *parts: str | int) -> str:
        """A key of this deployment: ``redis.key_prefix`` + the parts joined by ``:``."""
        return self.prefix + ":".join(str(part) for part in parts)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn connection-class Redis failures inside the block into :class:`Unavailable`."""
        try:
            yield
        except CONNECTION_ERRORS as exc:
            raise Unavailable(
                f"Redis at {describe_url(self._url)} does not answer ({exc}); "
                "retry shortly, and check that redis.url points at a running server",
                code="unavailable",
            ) from exc

    def on_reset(self, handler: ResetHandler) -> None:
        """Call ``handler`` whenever shared state or pub/sub messages may have been lost."""
        self._resets.append(handler)

    def subscribe(self, channel: str, handler: MessageHandler) -> None:
        """Call ``handler`` with the payload of every message published on ``channel``.

        Adapters subscribe when they are built, before :meth:`start`; a channel added later
        is subscribed within moments (:meth:`subscribed` waits for it).
        """
        new = channel not in self._channels
        self._channels.setdefault(channel, []).append(handler)
        if new and self._tasks:
            self._subscribed.clear()
            # Wake the subscriber out of its wait for messages, so it subscribes at once.
            wake = self.client.publish(self._wake_channel, b"")
            self._background.add(task := asyncio.ensure_future(wake))
            task.add_done_callback(self._woken)

    def _woken(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("subscriber not woken", extra={"error": str(task.exception())})

    async def subscribed(self) -> None:
        """Wait until every channel subscribed so far receives messages."""
        await self._subscribed.wait()

    async def publish(self, channel: str, payload: bytes) -> None:
        """Publish ``payload`` on ``channel``.

        Raises:
            Unavailable: Redis does not answer.
        """
        with self.errors():
            await self.client.publish(channel, payload)

    async def ping(self) -> None:
        """Readiness: raise :class:`Unavailable` unless Redis answers."""
        with self.errors():
            await self.client.ping()

    async def start(self) -> None:
        """Check Redis answers, mark it, start the watch and subscribe every channel.

        Raises:
            Unavailable: Redis does not answer, naming ``redis.url``.
        """
        await self.ping()
        with self.errors():
            await self.client.set(self._alive_key, self.instance, nx=True)
        self._tasks = [
            asyncio.create_task(self._watch(), name="redis-watch"),
            asyncio.create_task(self._listen(), name="redis-subscriber"),
        ]
        await self._subscribed.wait()
        log.info("redis ready", extra={"url": describe_url(self._url), "prefix": self.prefix})

    async def stop(self) -> None:
        """Stop the watch and the subscriber; close every connection."""
        await stop_tasks(*self._tasks, self._reset_task)
        self._tasks = []
        await self._subscriber.aclose()
        await self.client.aclose()

    async def _watch(self) -> None:
        down = False
        while True:
            await asyncio.sleep(self._check_interval_s)
            try:
                # Created again means the marker (and every other key) was lost.
                created = await self.client.set(self._alive_key, self.instance, nx=True)
            except CONNECTION_ERRORS as exc:
                if not down:
                    log.warning(
                        "redis does not answer; requests that need it get 503",
                        extra={"url": describe_url(self._url), "error": str(exc)},
                    )
                down = True
                continue
            if down:
                log.info("redis answers again", extra={"url": describe_url(self._url)})
                down = False
                self._reset("reconnected")
            elif created:
                log.warning("redis lost its data (restarted empty or flushed)")
                self._reset("data lost")

    async def _listen(self) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                subscribed = await self._subscribe_all(pubsub, set())
                if not first:
                    self._reset("pub/sub reconnected")
                first, backoff = False, 0.1
                while True:
                    subscribed = await self._subscribe_all(pubsub, subscribed)
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        await self._dispatch(message["channel"].decode(), message["data"])
            except CONNECTION_ERRORS as exc:
                log.warning("redis subscriber disconnected", extra={"error": str(exc)})
            finally:
                with contextlib.suppress(*CONNECTION_ERRORS):
                    # Untyped before redis 8.2, typed since: Any keeps mypy quiet on both.
                    await cast(Any, pubsub).aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _subscribe_all(self, pubsub: PubSub, done: set[str]) -> set[str]:
        # Always one channel, so a process without subscribers still notices reconnects.
        wanted = {self._wake_channel, *self._channels}
        if wanted - done:
            await pubsub.subscribe(*sorted(wanted - done))
        self._subscribed.set()
        return wanted

    async def _dispatch(self, channel: str, payload: bytes) -> None:
        for handler in self._channels.get(channel, []):
            try:
                await handler(payload)
            except Exception:
                log.exception("redis message handler failed", extra={"channel": channel})

    def _reset(self, why: str) -> None:
        # Coalesced: a reset asked for while one runs runs once more after it.
        if self._reset_task is not None and not self._reset_task.done():
            self._reset_again = True
            return
        self._reset_task = asyncio.create_task(self._run_resets(why), name="redis-reset")

    async def _run_resets(self, why: str) -> None:
        while True:
            self._reset_again = False
            log.info("recovering state after redis reset", extra={"why": why})
            for handler in list(self._resets):
                try:
                    await handler()
                except Exception as exc:
                    # The next reconnect or watch tick asks again.
                    log.warning("redis reset handler failed", extra={"error": str(exc)})
            if not self._reset_again:
                return


async def open_redis(engine: RedisEngine) -> AsyncIterator[RedisEngine]:
    """The engine as a ``providers.Resource``: started on ``init()``, stopped on ``shutdown()``."""
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
