"""Runs the app on uvicorn with uvloop and httptools."""

from __future__ import annotations

import logging

import uvicorn

from gomicroim.app import create_app
from gomicroim.config import Settings
from gomicroim.infra.logging import configure_logging

log = logging.getLogger("gomicroim.server")


def serve(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    configure_logging(settings.log)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()
    # uvicorn leaves started=False when the lifespan failed (e.g. the database is unreachable).
    return 0 if server.started else 3
