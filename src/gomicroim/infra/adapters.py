"""Selector helpers: cluster-wide broadcasts, and branches for adapters this build lacks."""

from __future__ import annotations

from typing import Any, NoReturn

from dependency_injector import providers

from gomicroim.config import ConfigError
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.redis_broadcast import RedisBroadcast

#: What to do until the Redis and Kafka adapters exist.
REDIS_FIX = "until it is, leave redis.url empty and run all roles in one process"
KAFKA_FIX = "until it is, leave kafka.bootstrap_servers empty and run all roles in one process"


def not_available(adapter: str, fix: str) -> providers.Callable[NoReturn]:
    """A ``providers.Selector`` branch that stops the start when config selects ``adapter``.

    The cluster adapters (Redis, Kafka, MongoDB) replace exactly these branches.

    Args:
        adapter: what is missing, e.g. ``"the Redis presence adapter"``.
        fix: the setting that avoids it, e.g. :data:`REDIS_FIX`.
    """
    return providers.Callable(_refuse, adapter, fix)


def _refuse(adapter: str, fix: str) -> NoReturn:
    raise ConfigError(f"{adapter} is not available yet; {fix}")


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
