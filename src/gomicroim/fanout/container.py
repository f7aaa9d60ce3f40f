"""Wiring of the fan-out worker and its strategies."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.fanout.selector import StrategySelector, build_strategies
from gomicroim.fanout.worker import FanoutWorker
from gomicroim.gateway.contract import PushRouter
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.identity.contract import IdentityFacade
from gomicroim.modules.presence.contract import PresenceFacade
from gomicroim.modules.timeline.contract import TimelineFacade


class FanoutContainer(containers.DeclarativeContainer):
    """Strategies from config, the selector and the worker; the router is chosen by the root."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    groups: providers.Dependency[GroupsFacade] = providers.Dependency()
    presence: providers.Dependency[PresenceFacade] = providers.Dependency()
    timeline: providers.Dependency[TimelineFacade] = providers.Dependency()
    router: providers.Dependency[PushRouter] = providers.Dependency()
    metrics: providers.Dependency[Metrics] = providers.Dependency()

    strategies = providers.Singleton(
        build_strategies, settings=settings.provided.fanout, timeline=timeline
    )
    selector = providers.Singleton(
        StrategySelector,
        strategies=strategies,
        client_strategies=settings.provided.fanout.client_strategies,
        write_max_group_size=settings.provided.fanout.write_max_group_size,
    )
    worker = providers.Singleton(
        FanoutWorker,
        identity=identity,
        groups=groups,
        presence=presence,
        selector=selector,
        router=router,
        metrics=metrics,
    )
