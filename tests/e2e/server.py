"""A real ``gomicroim serve`` subprocess on a loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gomicroim.bench.target import NO_ABUSE_LIMITS

#: Cheap argon2, no abuse limits (every test client is 127.0.0.1), no access log: a fast, quiet
#: server unless a test says otherwise; tests/e2e/test_limits.py turns each limit on.
BASE_ENV = {
    "GOMICROIM__IDENTITY__PASSWORD_TIME_COST": "1",
    "GOMICROIM__IDENTITY__PASSWORD_MEMORY_KIB": "8192",
    "GOMICROIM__LIMITS__REQUESTS_PER_SECOND": "0",
    **NO_ABUSE_LIMITS,
    "GOMICROIM__LOG__ACCESS_LOG": "false",
}
#: Exit statuses of a graceful stop: uvicorn finishes shutting down, then re-raises SIGTERM.
GRACEFUL_EXIT = {0, -signal.SIGTERM}
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
_LISTENING = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
EXECUTABLE = Path(sys.executable).with_name("gomicroim")


class ServerProcess:
    """One ``gomicroim serve`` process on a data directory; restartable on the same port.

    The first start binds port 0 and reads the port the server chose from its log, so there is
    no race for a free port; restarts bind that same port so clients keep their base URL.
    """

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path,
        env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
    ):
        """``prefix`` runs before the command, e.g. ``unshare`` setting up its mounts."""
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.env = {**BASE_ENV, **(env or {})}
        self.prefix = prefix
        self.port = 0
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if not self.port:
            raise RuntimeError("the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The running process's id (for /proc readings)."""
        if self._proc is None:
            raise RuntimeError("the server is not running")
        return self._proc.pid

    def rss_bytes(self) -> int:
        """The process's resident memory now, from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process and wait until ``/readyz`` answers 200."""
        if self.running:
            raise RuntimeError("the server is already running")
        self.starts += 1
        self._log_path = self.log_dir / f"server-{self.starts}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOMICROIM__")}
        env.update(self.env)
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    *self.prefix,
                    str(EXECUTABLE),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait_ready()

    def stop(self) -> int | None:
        """SIGTERM and wait for a graceful exit, SIGKILL if it hangs; returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL without waiting for a graceful shutdown (teardown safety net)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop gracefully and start again on the same data directory and port."""
        code = self.stop()
        if code not in GRACEFUL_EXIT:
            raise AssertionError(f"server exited with {code} on SIGTERM:\n{self.log_tail()}")
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the current process's stdout and stderr (JSON log lines)."""
        if self._log_path is None or not self._log_path.exists():
            return "<no log>"
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def error_lines(self) -> list[str]:
        """Log lines at level error or above (or not JSON at all, e.g. a raw traceback)."""
        if self._log_path is None or not self._log_path.exists():
            return []
        bad = []
        for line in self._log_path.read_text(errors="replace").splitlines():
            try:
                level = json.loads(line).get("level")
            except ValueError:
                level = "unparsable"
            if level in {"error", "critical", "unparsable"}:
                bad.append(line)
        return bad

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._fail(f"exited with {self._proc.returncode} during startup")
            if not self.port:
                self.port = self._announced_port()
            if self.port and self._ready():
                return
            time.sleep(0.05)
        self.kill()
        self._fail(f"did not answer GET /readyz with 200 within {START_TIMEOUT_S:g} s")

    def _announced_port(self) -> int:
        assert self._log_path is not None
        match = _LISTENING.search(self._log_path.read_bytes())
        return int(match.group(1)) if match else 0

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def _fail(self, what: str) -> None:
        raise RuntimeError(
            f"gomicroim serve (data dir {self.data_dir}) {what}; its log ends with:\n"
            f"{self.log_tail()}"
        )
