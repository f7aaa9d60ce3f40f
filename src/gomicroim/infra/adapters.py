"""Selector branches for adapters that config can already name but this build does not have."""

from __future__ import annotations

from typing import NoReturn

from dependency_injector import providers

from gomicroim.config import ConfigError

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
