r"""Renders ``docker/nginx.conf``, the reverse proxy for N replicas, from gomicroim's settings.

One template serves docker compose and the loopback cluster; only ``${UPPER_CASE}``
placeholders are filled in, so nginx's own ``$variables`` pass through untouched::

    python -m gomicroim.infra.nginx --upstream im1:8080 --upstream im2:8080 --listen 80 \
        [--config FILE] [--prefix DIR] [--user NAME] [--out FILE]

Limits follow the settings (``--config`` and ``GOMICROIM__*`` as for ``gomicroim serve``):
the body limit sits above ``server.max_request_bytes`` so gomicroim answers an oversized
request with its own JSON 413, and the WebSocket read timeout is longer than
``gateway.idle_timeout_s`` so gomicroim, not nginx, ends idle sockets.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from gomicroim.config import ConfigError, Settings, load_settings

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_ADDRESS = re.compile(r"[A-Za-z0-9._-]+:\d{1,5}\Z|\[[0-9A-Fa-f:]+\]:\d{1,5}\Z")
#: Headroom above server.max_request_bytes, so the server sees (and refuses) the body itself.
_BODY_HEADROOM = 64 * 1024


def template_path() -> Path:
    """The template: shipped inside the wheel, or ``docker/nginx.conf`` of a source checkout."""
    shipped = Path(__file__).resolve().parents[1] / "_deploy" / "nginx.conf"
    if shipped.is_file():
        return shipped
    return Path(__file__).resolve().parents[3] / "docker" / "nginx.conf"


def values(
    settings: Settings,
    upstreams: Sequence[str],
    listen: str,
    prefix: Path | None = None,
    user: str | None = None,
) -> dict[str, str]:
    """The placeholders' values for these replicas and settings.

    Args:
        settings: the replicas' settings (limits are derived from them).
        upstreams: ``host:port`` of each replica.
        listen: nginx's ``listen`` argument (``80``, ``127.0.0.1:8080``).
        prefix: a directory for nginx's pid file, logs and temporary files (an nginx that is
            not the system's own); ``None`` uses a container's usual places and stdout/stderr.
        user: the workers' user (nginx's ``user`` directive; only a root master switches).
            A root master hands its workers to ``nobody`` otherwise, who may not be able to
            enter ``prefix``.

    Raises:
        ConfigError: no replica, or an address that is not ``host:port``.
    """
    if not upstreams:
        raise ConfigError("nginx needs at least one replica: pass --upstream host:port")
    for address in upstreams:
        if not _ADDRESS.match(address):
            raise ConfigError(f"--upstream {address!r} is not host:port (e.g. im1:8080)")
    if not re.fullmatch(r"(\[[0-9A-Fa-f:]+\]:|[A-Za-z0-9.-]+:)?\d{1,5}", listen):
        raise ConfigError(f"--listen {listen!r} is not a port or address:port")
    servers = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=5s;" for address in upstreams
    )
    idle_s = settings.gateway.idle_timeout_s
    if prefix is None:
        files = {
            "PID_FILE": "/tmp/nginx.pid",  # noqa: S108  # writable for any container user
            "ERROR_LOG": "/dev/stderr",
            "ACCESS_LOG": "/dev/stdout",
            "TEMP_DIR": "/tmp",  # noqa: S108
        }
    else:
        files = {
            "PID_FILE": str(prefix / "nginx.pid"),
            "ERROR_LOG": str(prefix / "error.log"),
            "ACCESS_LOG": str(prefix / "access.log"),
            "TEMP_DIR": str(prefix / "temp"),
        }
    return {
        **files,
        "USER_LINE": f"user {user};" if user else "# user: nginx's default",
        "LISTEN": listen,
        "UPSTREAM_SERVERS": servers,
        "MAX_REQUEST_BYTES": str(settings.server.max_request_bytes),
        "CLIENT_MAX_BODY": str(settings.server.max_request_bytes + _BODY_HEADROOM),
        "IDLE_TIMEOUT_S": f"{idle_s:g}",
        "WS_TIMEOUT": f"{max(300, round(idle_s * 2))}s",
    }


def render(template: str, filled: dict[str, str]) -> str:
    """``template`` with every ``${NAME}`` replaced.

    Raises:
        ConfigError: a placeholder without a value, or a value no placeholder uses (a
            template and a renderer of different versions).
    """
    used = set(_PLACEHOLDER.findall(template))
    missing = sorted(used - filled.keys())
    unused = sorted(filled.keys() - used)
    if missing or unused:
        raise ConfigError(
            f"nginx template and renderer disagree: no value for {missing}, no place for "
            f"{unused}; use the template of the same gomicroim version"
        )
    return _PLACEHOLDER.sub(lambda m: filled[m.group(1)], template)


def main(argv: Sequence[str] | None = None) -> int:
    """Render the template to ``--out`` (or stdout); exit status 2 with one line on error."""
    parser = argparse.ArgumentParser(prog="python -m gomicroim.infra.nginx", description=__doc__)
    parser.add_argument("--upstream", action="append", default=[], help="replica host:port")
    parser.add_argument("--listen", default="80", help="nginx listen address (default 80)")
    parser.add_argument("--config", type=Path, help="the replicas' gomicroim config file")
    parser.add_argument("--prefix", type=Path, help="directory for pid, logs, temp files")
    parser.add_argument("--user", help="workers' user (nginx's user directive)")
    parser.add_argument("--template", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--out", type=Path, help="file to write (default stdout)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        filled = values(settings, args.upstream, args.listen, args.prefix, args.user)
        text = render((args.template or template_path()).read_text(encoding="utf-8"), filled)
    except (ConfigError, OSError) as exc:
        sys.stderr.write(f"gomicroim nginx: {exc}\n")
        return 2
    if args.prefix is not None:
        (args.prefix / "temp").mkdir(parents=True, exist_ok=True)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
