"""What each role runs: its routes, the services they use, and its background lifecycles.

This table is the only place that knows roles. A process runs the union of its roles'
routes and lifecycles (``server.roles``); services and handlers never ask which role is in
force, and which adapter serves a port is decided by the module containers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.types import ControllerRouterHandler

from gomicroim.config import Role
from gomicroim.container import Container
from gomicroim.fanout.worker import EventSource, FanoutWorker
from gomicroim.gateway.frames import CLOSE_GOING_AWAY
from gomicroim.gateway.ports import ConnectionQuota
from gomicroim.gateway.service import Gateway
from gomicroim.http.abuse import ABUSE_LIMITS
from gomicroim.http.auth import BearerAuthMiddleware
from gomicroim.http.ops import ReadinessCheck
from gomicroim.infra.engines import running
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved
from gomicroim.modules.chat.relay import OutboxRelay
from gomicroim.modules.identity.revocation_poll import RevocationPoller
from gomicroim.modules.identity.service import IdentityService
from gomicroim.modules.timeline.service import TimelineService
from gomicroim.web.http import WebController

Lifecycle = AbstractAsyncContextManager[None]
#: Closes this process's WebSockets within a grace period; returns how many were open.
CloseConnections = Callable[[float], Awaitable[int]]


@dataclass(frozen=True)
class Routes:
    """A role's HTTP and WebSocket surface."""

    controllers: list[ControllerRouterHandler] = field(default_factory=list)
    #: Litestar dependency name → the service instance the controllers ask for by that name.
    services: dict[str, Any] = field(default_factory=dict)
    #: ``app.state`` entries: what handlers reach without a second injected dependency (two
    #: make Litestar resolve them in a task group, a loop turn in which a vanished client's
    #: disconnect overtakes its body).
    state: dict[str, Any] = field(default_factory=dict)
    middleware: list[DefineMiddleware] = field(default_factory=list)
    close_connections: list[CloseConnections] = field(default_factory=list)


@dataclass(frozen=True)
class RoleSpec:
    """One role: how to build its routes, and the names of the lifecycles it needs."""

    routes: Callable[[Container], Routes]
    lifecycles: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    """Everything this process runs for its roles, resolved from the container."""

    controllers: list[ControllerRouterHandler]
    dependencies: dict[str, Provide]
    state: dict[str, Any]
    middleware: list[DefineMiddleware]
    #: Engines first, then the roles' background lifecycles; they stop in reverse.
    lifecycles: list[Lifecycle]
    readiness_checks: dict[str, ReadinessCheck]
    close_connections: CloseConnections


def _api_routes(container: Container) -> Routes:
    modules = (
        container.identity,
        container.groups,
        container.chat,
        container.timeline,
        container.presence,
        container.notifications,
    )
    container.watch_queues()
    return Routes(
        controllers=[
            *(controller for module in modules for controller in module.controllers()),
            # The web client is a client of this role's API, so it is served where the API is.
            WebController,
        ],
        services={
            "identity": container.identity.service(),
            "blocks": container.identity.blocks_service(),
            "groups": container.groups.service(),
            "chat": container.chat.service(),
            "message_changes": container.chat.changes(),
            "read_receipts": container.chat.readers(),
            "conversation_settings": container.chat.settings_service(),
            "timeline": container.timeline.service(),
            "presence_view": container.presence.view(),
            "notifications": container.notifications.service(),
        },
        state={ABUSE_LIMITS: container.abuse_limits()},
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware,
                identity=container.identity.service(),
                limits=container.abuse_limits(),
            )
        ],
    )


def _gateway_routes(container: Container) -> Routes:
    gateway: Gateway = container.gateway.service()

    async def close_connections(grace_s: float) -> int:
        return await gateway.close_all(CLOSE_GOING_AWAY, "server shutting down", grace_s)

    return Routes(
        controllers=list(container.gateway.controllers()),
        services={"gateway": gateway},
        close_connections=[close_connections],
    )


def _no_routes(_: Container) -> Routes:
    return Routes()


@asynccontextmanager
async def _revocations_loaded(identity: IdentityService) -> AsyncIterator[None]:
    # Sessions ended shortly before a restart must stay ended wherever tokens are checked.
    await identity.start()
    yield


@asynccontextmanager
async def _revocation_poll(poller: RevocationPoller) -> AsyncIterator[None]:
    # Sessions that other processes end (gomicroim users disable) take effect here too.
    poller.start()
    try:
        yield
    finally:
        await poller.stop()


@asynccontextmanager
async def _timeline_pruning(timeline: TimelineService) -> AsyncIterator[None]:
    timeline.start()
    try:
        yield
    finally:
        await timeline.stop()


@asynccontextmanager
async def _fanout_worker(
    worker: FanoutWorker,
    committed: EventSource[MessageCommitted],
    reads: EventSource[ReadPositionMoved],
) -> AsyncIterator[None]:
    worker.start(committed, reads)
    try:
        yield
    finally:
        await worker.stop()


@asynccontextmanager
async def _outbox_relay(relay: OutboxRelay, grace_s: float) -> AsyncIterator[None]:
    relay.start()
    try:
        yield
    finally:
        # Started after the fan-out worker, so stopped before it: in one process the relay's
        # final flush still needs the worker to take what it publishes.
        await relay.stop(grace_s)


@asynccontextmanager
async def _gateway(gateway: Gateway, quota: ConnectionQuota, grace_s: float) -> AsyncIterator[None]:
    # The server closes sockets before the app stops; this closes any it did not (an app
    # served some other way). A cluster gateway's push-partition consumer runs beside it.
    try:
        yield
    finally:
        await gateway.close_all(CLOSE_GOING_AWAY, "server shutting down", grace_s)
        await quota.close()


def _grace_s(container: Container) -> float:
    return float(container.settings().gateway.shutdown_grace_s)


#: Every background lifecycle, in start order; each is built (and its adapters resolved, so a
#: missing adapter stops the start) only when one of this process's roles names it.
LIFECYCLES: Mapping[str, Callable[[Container], Lifecycle]] = {
    "revocations": lambda c: _revocations_loaded(c.identity.service()),
    "revocation-poll": lambda c: _revocation_poll(c.identity.revocation_poller()),
    "timeline-pruning": lambda c: _timeline_pruning(c.timeline.service()),
    # Before the fan-out worker, so it stops after it: the worker's last notifications still
    # reach the queue (what is queued and unsent at exit is lost with the process).
    "push-webhook": lambda c: c.notifications.delivery(),
    "fanout-worker": lambda c: _fanout_worker(
        c.fanout.worker(), c.fanout.committed_source(), c.fanout.read_source()
    ),
    "outbox-relay": lambda c: _outbox_relay(c.chat.relay(), _grace_s(c)),
    # Before the gateway, so it stops after the gateway closed its sockets.
    "presence-lease": lambda c: c.presence.service().hold(c.settings().node_id),
    "gateway": lambda c: _gateway(c.gateway.service(), c.gateway.quota(), _grace_s(c)),
    # After the gateway, so it stops first: no push arrives for sockets being closed.
    "push-consumer": lambda c: c.gateway.push_consumer().running(),
}

ROLES: Mapping[Role, RoleSpec] = {
    "api": RoleSpec(_api_routes, ("revocations", "revocation-poll", "outbox-relay")),
    "gateway": RoleSpec(
        _gateway_routes,
        ("revocations", "revocation-poll", "presence-lease", "gateway", "push-consumer"),
    ),
    "fanout": RoleSpec(_no_routes, ("timeline-pruning", "push-webhook", "fanout-worker")),
}


def _provide(value: Any) -> Provide:
    # Services are singletons: hand Litestar the instance without a thread hop per request.
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def assemble(roles: Collection[Role], container: Container) -> Node:
    """Resolve what ``roles`` run from ``container``.

    Every service and lifecycle of the roles is built here, before the app starts, so an
    adapter that config selects but this build lacks stops the start with its message.

    Raises:
        ConfigError: a selected adapter is not available.
    """
    specs = [ROLES[role] for role in dict.fromkeys(roles)]
    routes = [spec.routes(container) for spec in specs]
    wanted = {name for spec in specs for name in spec.lifecycles}
    engines = container.engines()
    closers = [close for r in routes for close in r.close_connections]

    async def close_connections(grace_s: float) -> int:
        return sum([await close(grace_s) for close in closers])

    return Node(
        controllers=[c for r in routes for c in r.controllers],
        dependencies={name: _provide(s) for r in routes for name, s in r.services.items()},
        state={key: value for r in routes for key, value in r.state.items()},
        middleware=[m for r in routes for m in r.middleware],
        lifecycles=[
            *(running(engine) for engine in engines),
            *(make(container) for name, make in LIFECYCLES.items() if name in wanted),
        ],
        readiness_checks={engine.name: engine.ping for engine in engines},
        close_connections=close_connections,
    )
