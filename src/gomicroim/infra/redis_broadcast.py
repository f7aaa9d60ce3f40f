"""Cluster-wide broadcast over Redis pub/sub, the same shape as :class:`LocalBroadcast`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import msgspec

from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.redis import RedisEngine

T = TypeVar("T")

log = logging.getLogger("gomicroim.broadcast")


class _Envelope(msgspec.Struct, frozen=True):
    origin: str
    event: msgspec.Raw


class RedisBroadcast(Generic[T]):
    """Every process subscribed to the same ``name`` hears every event published on any of them.

    Events reach this process's subscribers before :meth:`publish` returns (as in process);
    other processes get them through the channel ``<key_prefix>bc:<name>``. Pub/sub delivers
    at most once: a subscriber that was disconnected misses what was published meanwhile, so
    :meth:`on_gap` handlers run after every reconnect (callers drop their caches then).
    """

    def __init__(self, engine: RedisEngine, name: str, event_type: type[T]):
        self.name = name
        self._engine = engine
        self._channel = engine.key("bc", name)
        self._local: LocalBroadcast[T] = LocalBroadcast(name)
        self._encode = msgspec.json.Encoder().encode
        self._envelope = msgspec.json.Decoder(_Envelope)
        self._event = msgspec.json.Decoder(event_type)
        engine.subscribe(self._channel, self._received)

    def subscribe(self, handler: Callable[[T], Awaitable[None]]) -> None:
        """Call ``handler`` for every event from now on, from this process or another."""
        self._local.subscribe(handler)

    def on_gap(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Call ``handler`` whenever events may have been missed (see the class docstring)."""
        self._engine.on_reset(handler)

    async def publish(self, event: T) -> None:
        """Hand ``event`` to this process's subscribers, then to the other processes.

        Raises:
            Unavailable: Redis does not answer (this process's subscribers already ran).
        """
        await self._local.publish(event)
        envelope = _Envelope(origin=self._engine.instance, event=msgspec.Raw(self._encode(event)))
        await self._engine.publish(self._channel, self._encode(envelope))

    async def _received(self, payload: bytes) -> None:
        try:
            envelope = self._envelope.decode(payload)
            if envelope.origin == self._engine.instance:
                return
            event = self._event.decode(envelope.event)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning(
                "undecodable broadcast dropped", extra={"topic": self.name, "error": str(exc)}
            )
            return
        await self._local.publish(event)
