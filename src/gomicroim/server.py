"""Runs the app on uvicorn with uvloop and httptools, closing WebSockets first on shutdown."""

from __future__ import annotations

import gc
import logging
import signal
import socket
from types import FrameType

import uvicorn

from gomicroim.app import build_container, create_app
from gomicroim.config import Settings
from gomicroim.gateway.protocol import GatewayWebSocketProtocol
from gomicroim.http.protocol import HttpLimits, guarded_http_protocol
from gomicroim.infra.logging import configure_logging
from gomicroim.roles import CloseConnections, assemble

log = logging.getLogger("gomicroim.server")


class GracefulServer(uvicorn.Server):
    """On SIGTERM: stop accepting, close every WebSocket with 1001, then uvicorn's shutdown.

    uvicorn alone would close sockets with 1012; clients should see "going away" and
    reconnect elsewhere, so the gateway closes them itself before uvicorn gets to them.
    """

    def __init__(self, config: uvicorn.Config, close_connections: CloseConnections, grace_s: float):
        super().__init__(config)
        self._close_connections = close_connections
        self._grace_s = grace_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Shut down gracefully and exit 0: SIGTERM is how supervisors ask for a normal stop."""
        super().handle_exit(sig, frame)
        # uvicorn re-raises captured signals after shutdown, which turns a clean stop into
        # "killed by SIGTERM" (status -15) for systemd, Kubernetes and tests alike.
        if sig == signal.SIGTERM:
            self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close listeners and WebSockets, then let uvicorn finish HTTP and the lifespan."""
        for server in self.servers:
            server.close()
        closed = await self._close_connections(self._grace_s)
        log.info("websockets closed", extra={"connections": closed})
        await super().shutdown(sockets)


def _tune_gc() -> None:
    # Modules, the app and the container live as long as the process: keep them out of the
    # collector's scans, and collect young objects less often. Full collections over a large
    # heap otherwise show up as multi-millisecond stalls in push latency.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def serve(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    configure_logging(settings.log)
    container = build_container(settings)
    node = assemble(settings.server.roles, container)
    app = create_app(settings, container, node)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http=guarded_http_protocol(
            HttpLimits(
                max_header_bytes=settings.server.max_header_bytes,
                max_headers=settings.server.max_headers,
                header_timeout_s=settings.server.header_timeout_s,
                body_timeout_s=settings.server.body_timeout_s,
            )
        ),
        timeout_keep_alive=settings.server.keepalive_timeout_s,  # type: ignore[arg-type]
        # X-Forwarded-For is believed only from these peers (the proxy in front).
        proxy_headers=True,
        forwarded_allow_ips=settings.server.forwarded_allow_ips,
        ws=GatewayWebSocketProtocol,
        ws_max_size=settings.gateway.max_frame_bytes,
        ws_per_message_deflate=settings.gateway.per_message_deflate,
        ws_ping_interval=None,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.gateway.shutdown_grace_s) + 5,
    )
    server = GracefulServer(config, node.close_connections, settings.gateway.shutdown_grace_s)
    _tune_gc()
    server.run()
    # uvicorn leaves started=False when the lifespan failed (e.g. the database is unreachable).
    return 0 if server.started else 3
