"""Selector helpers: cluster-wide broadcasts."""

from __future__ import annotations

from typing import Any

from dependency_injector import providers

from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.redis_broadcast import RedisBroadcast


def shared_broadcast(
    settings: providers.Provider[Any], redis: providers.Provider[Any], name: str, event: type
) -> providers.Selector[Any]:
    """A broadcast every process hears: in process alone, over Redis when ``redis.url`` is set.

    Args:
        settings: the container's settings provider.
        redis: the container's :class:`~gomicroim.infra.redis.RedisEngine` provider.
        name: the topic, e.g. ``"groups.members"`` (channel ``<key_prefix>bc:<name>``).
        event: the msgspec type of its events.
    """
    return providers.Selector(
        settings.provided.shared_state_backend,
        memory=providers.Singleton(LocalBroadcast, name),
        redis=providers.Singleton(RedisBroadcast, redis, name, event),
    )
