"""Composition root: builds the Litestar app for the configured settings and roles."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from gomicroim import __version__
from gomicroim.config import ConfigError, Settings, check_shape
from gomicroim.container import Container
from gomicroim.errors import AppError
from gomicroim.http.errors import EXCEPTION_HANDLERS
from gomicroim.http.observability import add_edge_layer
from gomicroim.http.openapi import COMPONENTS
from gomicroim.http.ops import OpsController
from gomicroim.http.params import strict_path_ids
from gomicroim.infra.secrets import jwt_secret
from gomicroim.roles import Node, assemble

log = logging.getLogger("gomicroim.app")


def build_container(settings: Settings) -> Container:
    """The wired container for ``settings``, once their shape passed the start-time check.

    Raises:
        ConfigError: roles and backends that cannot work together, naming the fix.
    """
    check_shape(settings)
    container = Container(settings=settings, jwt_secret=jwt_secret(settings))
    container.check_dependencies()
    return container


def create_app(
    settings: Settings, container: Container | None = None, node: Node | None = None
) -> Litestar:
    """Build the app for ``server.roles``; no engine is touched until the app starts.

    Tests pass a ``container`` whose providers they overrode; the server passes the ``node``
    it also uses to close WebSockets on shutdown.

    Raises:
        ConfigError: the settings select an adapter this build does not have.
    """
    container = container or build_container(settings)
    node = node or assemble(settings.server.roles, container)
    metrics = container.metrics()
    app = Litestar(
        route_handlers=[OpsController, *node.controllers],
        dependencies={
            **node.dependencies,
            "metrics": Provide(lambda: metrics, use_cache=True, sync_to_thread=False),
            "readiness_checks": Provide(
                lambda: node.readiness_checks, use_cache=True, sync_to_thread=False
            ),
        },
        state=State(node.state),
        lifespan=[_lifespan(settings, node)],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_path_ids,
        middleware=node.middleware,
        request_max_body_size=settings.server.max_request_bytes,
        openapi_config=_openapi(),
        debug=False,
        logging_config=None,
    )
    add_edge_layer(app, metrics, access_log=settings.log.access_log)
    return app


def _lifespan(
    settings: Settings, node: Node
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for lifecycle in node.lifecycles:
                try:
                    await stack.enter_async_context(lifecycle)
                except (ConfigError, AppError) as exc:
                    # One line that names the cause and the fix, ahead of the server's traceback.
                    log.error("gomicroim cannot start", extra={"error": str(exc)})
                    raise
            log.info(
                "gomicroim started",
                extra={
                    "node_id": settings.node_id,
                    "roles": list(settings.server.roles),
                    "version": __version__,
                },
            )
            yield
        log.info("gomicroim stopped")

    return lifespan


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="gomicroim",
        version=__version__,
        description="Instant-messaging server API. Errors: {error: {code, message, field?}}.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin()],
        components=COMPONENTS,
    )
