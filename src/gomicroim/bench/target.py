"""The server under test: spawned fresh in a temporary data dir, or one already running."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

#: Every per-user and per-address abuse limit turned off (besides the request rate).
NO_ABUSE_LIMITS = {
    f"GOMICROIM__LIMITS__{key}": "0"
    for key in (
        "MESSAGES_PER_SECOND",
        "LOGIN_ATTEMPTS_PER_IP",
        "LOGIN_FAILURES_PER_IP_USER",
        "LOGIN_FAILURES_PER_USER",
        "REGISTRATIONS_PER_IP",
        "REFRESHES_PER_IP",
    )
}

# Cheap password hashing so that setting up thousands of users does not dominate a run; it is
# not on any measured path (logins happen before the clock starts).
BENCH_ENV = {
    "GOMICROIM__IDENTITY__PASSWORD_TIME_COST": "1",
    "GOMICROIM__IDENTITY__PASSWORD_MEMORY_KIB": "8192",
    "GOMICROIM__LIMITS__REQUESTS_PER_SECOND": "0",
    # Many simulated users from one address: no per-address or per-user abuse limits.
    **NO_ABUSE_LIMITS,
    "GOMICROIM__LOG__ACCESS_LOG": "false",
    "GOMICROIM__LOG__LEVEL": "WARNING",
    "GOMICROIM__GATEWAY__IDLE_TIMEOUT_S": "600",
    # Every simulated device connects from this one machine's address.
    "GOMICROIM__GATEWAY__MAX_CONNECTIONS_PER_IP": "0",
    "GOMICROIM__GATEWAY__MAX_CONNECTIONS_PER_USER": "0",
}


class Target:
    """A server to drive: its base URL and, when known, its process for CPU and memory."""

    def __init__(self, url: str, pid: int | None, spawned: subprocess.Popen[bytes] | None = None):
        self.url = url.rstrip("/")
        self.process = psutil.Process(pid) if pid else None
        self._spawned = spawned
        self._data_dir: str | None = None

    @classmethod
    def spawn(cls, extra_env: dict[str, str] | None = None) -> Target:
        """Start ``gomicroim serve`` on a free port with a fresh data dir; wait until ready."""
        return cls._start(
            [sys.executable, "-m", "gomicroim", "serve"],
            {**BENCH_ENV, **(extra_env or {})},
            data_dir_option=True,
        )

    @classmethod
    def spawn_hello(cls, app: str, server: str = "uvicorn") -> Target:
        """Start a hello-world server (``bare`` ASGI or ``litestar``) on ``server``; wait."""
        return cls._start(
            [sys.executable, "-m", "gomicroim.bench.hello", "--app", app, "--server", server],
            {},
            data_dir_option=False,
        )

    @classmethod
    def _start(cls, command: list[str], env: dict[str, str], *, data_dir_option: bool) -> Target:
        # The data dir also holds the server's log, whether or not the server stores data.
        data_dir = tempfile.mkdtemp(prefix="gomicroim-bench-")
        port = _free_port()
        log = Path(data_dir, "server.log").open("wb")  # noqa: SIM115 - lives as long as the server
        command = [*command, "--port", str(port)]
        if data_dir_option:
            command += ["--data-dir", data_dir]
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
        )
        target = cls(f"http://127.0.0.1:{port}", proc.pid, proc)
        target._data_dir = data_dir
        target.wait_ready()
        return target

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Poll ``/readyz`` until 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            if self._spawned is not None and self._spawned.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"server at {self.url} not ready; see {self._data_dir}/server.log")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (0 when unknown)."""
        if self.process is None:
            return 0.0
        # With its children: granian serves from a worker process it starts.
        total = 0.0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss_kib(self) -> int:
        """Resident memory of the server process in KiB (0 when unknown)."""
        return self.process.memory_info().rss // 1024 if self.process else 0

    def stop(self) -> None:
        """Stop a spawned server and remove its data."""
        if self._spawned is None:
            return
        self._spawned.terminate()
        try:
            self._spawned.wait(15)
        except subprocess.TimeoutExpired:
            self._spawned.kill()
        if self._data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
