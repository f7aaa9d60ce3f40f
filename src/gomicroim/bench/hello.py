"""Hello-world servers for the ``hello`` baselines: what HTTP costs before gomicroim does anything.

``python -m gomicroim.bench.hello --app bare|litestar --port PORT`` serves a tiny body on every
path from uvicorn configured like ``gomicroim serve`` (uvloop, the same httptools-based
protocol with the default header limits and keep-alive timeout, no access log). ``bare`` is a
plain ASGI callable; ``litestar`` is a Litestar app with one route, so the difference between
the two is the framework's per-request cost. ``--server granian`` serves the same app from
granian (Rust HTTP, one worker, one runtime thread, uvloop) instead, for the comparison of
ASGI servers.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from gomicroim.config import ServerSettings
from gomicroim.http.protocol import HttpLimits, guarded_http_protocol

BODY = b"hello"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest useful ASGI app: ``200 hello`` for every HTTP request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def litestar_app() -> Any:
    """A Litestar app with one GET route (also on ``/readyz``, for the readiness poll)."""
    from litestar import Litestar, MediaType, get

    @get(["/", "/readyz"], media_type=MediaType.TEXT, sync_to_thread=False)
    def hello() -> bytes:
        return BODY

    return Litestar(route_handlers=[hello], openapi_config=None)


def _apps() -> dict[str, Callable[[], Any]]:
    return {"bare": lambda: bare_app, "litestar": litestar_app}


def _serve_granian(app: str, host: str, port: int) -> None:
    from granian import Granian  # the bench extra's; gomicroim serve runs on uvicorn

    target = {"bare": "bare_app", "litestar": "litestar_app"}[app]
    Granian(
        f"gomicroim.bench.hello:{target}",
        address=host,
        port=port,
        interface="asgi",  # type: ignore[arg-type]
        workers=1,
        runtime_threads=1,
        loop="uvloop",  # type: ignore[arg-type]
        http="1",  # type: ignore[arg-type]
        websockets=False,
        log_access=False,
        log_level="warning",  # type: ignore[arg-type]
        factory=app == "litestar",
    ).serve()


def main(argv: list[str] | None = None) -> int:
    """Serve one hello-world app until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m gomicroim.bench.hello")
    parser.add_argument("--app", choices=sorted(_apps()), default="bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    args = parser.parse_args(argv)
    if args.server == "granian":
        _serve_granian(args.app, args.host, args.port)
        return 0
    server = ServerSettings()
    config = uvicorn.Config(
        _apps()[args.app](),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http=guarded_http_protocol(
            HttpLimits(
                max_header_bytes=server.max_header_bytes,
                max_headers=server.max_headers,
                header_timeout_s=server.header_timeout_s,
                body_timeout_s=server.body_timeout_s,
            )
        ),
        timeout_keep_alive=server.keepalive_timeout_s,  # type: ignore[arg-type]
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
