"""Chooses a fan-out strategy per recipient from the client types of their devices."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from gomicroim.config import ConfigError, FanoutSettings
from gomicroim.fanout.strategy import FanoutStrategy, ReadFanout, WriteFanout
from gomicroim.modules.identity.contract import DeviceRead
from gomicroim.modules.timeline.contract import TimelineFacade

BUILT_IN: dict[str, type] = {"read": ReadFanout, "write": WriteFanout}


def build_strategies(
    settings: FanoutSettings, timeline: TimelineFacade
) -> dict[str, FanoutStrategy]:
    """Instantiate the built-in strategies and the configured plugins.

    Plugins are classes named ``"package.module:ClassName"`` in ``fanout.plugins``; they are
    constructed with keyword arguments ``timeline`` and ``settings``.

    Raises:
        ConfigError: for a plugin that cannot be imported or a client type mapped to an
            unknown strategy.
    """
    classes = dict(BUILT_IN)
    for name, path in settings.plugins.items():
        classes[name] = _import(f"fanout.plugins.{name}", path)
    strategies: dict[str, FanoutStrategy] = {
        name: cls(timeline=timeline, settings=settings) for name, cls in classes.items()
    }
    for client_type, name in settings.client_strategies.items():
        if name not in strategies:
            raise ConfigError(
                f"fanout.client_strategies.{client_type}: unknown strategy {name!r};"
                f" known: {', '.join(sorted(strategies))}"
            )
    return strategies


def _import(key: str, path: str) -> type:
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot import {path!r} ({exc})") from exc
    if not isinstance(cls, type):
        raise ConfigError(f"{key}: {path!r} is not a class")
    return cls


class StrategySelector:
    """Per recipient: the highest-priority strategy among their devices' client types."""

    def __init__(
        self,
        strategies: Mapping[str, FanoutStrategy],
        client_strategies: Mapping[str, str],
        *,
        write_max_group_size: int,
        large_group_strategy: str = "read",
    ):
        self._strategies = strategies
        self._by_client = {ct: strategies[name] for ct, name in client_strategies.items()}
        self._write_max_group_size = write_max_group_size
        self._default = strategies["read"]
        self._large = strategies[large_group_strategy]

    def choose(self, devices: list[DeviceRead], group_size: int | None) -> FanoutStrategy:
        """The strategy for one recipient; groups over the size limit always use read fan-out."""
        if group_size is not None and group_size > self._write_max_group_size:
            return self._large
        best = self._default
        for device in devices:
            strategy = self._by_client.get(device.client_type, self._default)
            if strategy.priority > best.priority:
                best = strategy
        return best
