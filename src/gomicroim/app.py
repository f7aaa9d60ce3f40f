"""Composition root: builds the Litestar app for the configured settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from gomicroim import __version__
from gomicroim.config import Settings
from gomicroim.container import Container
from gomicroim.http.auth import BearerAuthMiddleware
from gomicroim.http.errors import EXCEPTION_HANDLERS
from gomicroim.http.observability import add_edge_layer
from gomicroim.http.openapi import COMPONENTS
from gomicroim.http.ops import OpsController
from gomicroim.http.params import strict_path_ids
from gomicroim.http.websocket_doc import websocket_upgrade_required
from gomicroim.infra import database
from gomicroim.infra.secrets import jwt_secret

log = logging.getLogger("gomicroim.app")


def build_container(settings: Settings) -> Container:
    """The wired container for ``settings``."""
    container = Container(settings=settings, jwt_secret=jwt_secret(settings))
    container.check_dependencies()
    return container


def _value(provider: Callable[[], Any]) -> Provide:
    # Services are singletons: hand Litestar the instance without a thread hop per request.
    return Provide(lambda: provider(), use_cache=True, sync_to_thread=False)


def create_app(settings: Settings, container: Container | None = None) -> Litestar:
    """Build the app; nothing touches the database until the app starts."""
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with database.database(settings):
            await container.identity.service().start()
            timeline = container.timeline.service()
            worker = container.fanout.worker()
            relay = container.chat.relay()
            timeline.start()
            worker.start(container.committed_topic(), container.read_topic())
            relay.start()
            log.info(
                "gomicroim started",
                extra={"node_id": settings.server.node_id, "version": __version__},
            )
            try:
                yield
            finally:
                # Relay first: its flush still needs the worker to take what it publishes.
                await relay.stop(settings.gateway.shutdown_grace_s)
                await worker.stop()
                await timeline.stop()
        log.info("gomicroim stopped")

    controllers: list[Any] = [OpsController, websocket_upgrade_required]
    for module in (
        container.identity,
        container.groups,
        container.chat,
        container.timeline,
        container.gateway,
    ):
        controllers.extend(module.controllers())

    app = Litestar(
        route_handlers=controllers,
        dependencies={
            "identity": _value(container.identity.service),
            "groups": _value(container.groups.service),
            "chat": _value(container.chat.service),
            "timeline": _value(container.timeline.service),
            "gateway": _value(container.gateway.service),
            "metrics": _value(container.metrics),
            "readiness_checks": _value(lambda: {"database": database.ping}),
        },
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_path_ids,
        middleware=[
            DefineMiddleware(
                BearerAuthMiddleware,
                identity=container.identity.service(),
                rate_limiter=container.rate_limiter(),
            ),
        ],
        request_max_body_size=settings.server.max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="gomicroim",
            version=__version__,
            description="Instant-messaging server API. Errors: {error: {code, message, field?}}.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=COMPONENTS,
        ),
        debug=False,
        logging_config=None,
    )
    add_edge_layer(app, container.metrics(), access_log=settings.log.access_log)
    return app
