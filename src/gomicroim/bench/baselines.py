"""Baselines: what the machine allows before gomicroim's own code runs.

* ``fsync``: a small append plus ``fsync`` (and ``fdatasync``) in the directory the server's
  SQLite file would live in. A durable acknowledgement waits for at least one such sync, so
  its p50 is a floor under the send ack latency, and ``1000 / mean_ms`` a ceiling on commits
  one after the other (group commit shares one sync among a batch).
* ``hello`` / ``hello-litestar``: requests per second and latency of a tiny response from
  uvicorn configured like ``gomicroim serve``, driven by the same client processes as the
  scenarios; a ceiling on any HTTP endpoint here, and (the difference) the framework's cost.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from gomicroim.bench.loadgen import ClientPool
from gomicroim.bench.meter import Meter, cpu_fields
from gomicroim.bench.stats import progress, summary_ms
from gomicroim.bench.target import Target

#: Baseline scenario name -> (the hello-world app, the ASGI server); see gomicroim.bench.hello.
HELLO_APPS = {
    "hello": ("bare", "uvicorn"),
    "hello-litestar": ("litestar", "uvicorn"),
    "hello-granian": ("bare", "granian"),
    "hello-litestar-granian": ("litestar", "granian"),
}


def server_data_root() -> Path:
    """Where a spawned bench server keeps its data dir (and SQLite file): the temp dir."""
    return Path(tempfile.gettempdir())


def _filesystem(path: Path) -> str:
    """The file system type of the mount holding ``path`` (``?`` when unknown)."""
    resolved = str(path.resolve())
    best = ("", "?")
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best[0]):
            best = (mount, part.fstype)
    return best[1]


def _timed_syncs(
    path: Path, sync: Callable[[int], None], *, iterations: int, size: int, label: str
) -> list[float]:
    payload = os.urandom(size)
    samples: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # The first syncs also allocate the file's first blocks and its inode; not measured.
        for _ in range(5):
            os.write(fd, payload)
            sync(fd)
        every = max(1, iterations // 4)
        for i in range(1, iterations + 1):
            started = time.perf_counter_ns()
            os.write(fd, payload)
            sync(fd)
            samples.append((time.perf_counter_ns() - started) / 1e6)
            if iterations >= 100 and i % every == 0:
                progress(
                    f"{label}: {i}/{iterations}, p50 so far {statistics.median(samples):.3f} ms"
                )
    finally:
        os.close(fd)
    return samples


def _sync_summary(samples: list[float], prefix: str = "") -> dict[str, Any]:
    mean = statistics.fmean(samples) if samples else 0.0
    fields = {**summary_ms(samples, digits=3), "mean_ms": round(mean, 3)}
    fields["serial_syncs_per_s"] = round(1000 / mean) if mean > 0 else 0
    return {f"{prefix}{key}": value for key, value in fields.items()}


def fsync_baseline(iterations: int, size: int, data_dir: Path | None = None) -> dict[str, Any]:
    """``size``-byte append + ``fsync``, then + ``fdatasync``, ``iterations`` times each.

    Runs in a fresh directory under ``data_dir`` (default: where a spawned bench server's
    SQLite file lives), removed afterwards. Latency fields without a prefix are fsync's.
    """
    root = data_dir or server_data_root()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gomicroim-fsync-", dir=root))
    me = psutil.Process()
    progress(f"fsync: {iterations} x {size} B append + fsync in {root} ({_filesystem(root)})")
    cpu_before = sum(me.cpu_times()[:2])
    wall = time.perf_counter()
    try:
        fsyncs = _timed_syncs(
            work / "fsync.bin", os.fsync, iterations=iterations, size=size, label="fsync"
        )
        result: dict[str, Any] = {
            "iterations": iterations,
            "write_bytes": size,
            "path": str(root),
            "filesystem": _filesystem(root),
            **_sync_summary(fsyncs),
        }
        fdatasync = getattr(os, "fdatasync", None)
        if fdatasync is not None:
            datasyncs = _timed_syncs(
                work / "fdatasync.bin",
                fdatasync,
                iterations=iterations,
                size=size,
                label="fdatasync",
            )
            result.update(_sync_summary(datasyncs, "fdatasync_"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # No server: the "client" is this process, which spends its time waiting on the disk.
    result.update(
        cpu_fields(time.perf_counter() - wall, None, [sum(me.cpu_times()[:2]) - cpu_before])
    )
    # The sync's own kernel time counts as this process's CPU; no load client to be the limit.
    result["client_bound"] = False
    return result


async def hello(
    target: Target, pool: ClientPool, *, connections: int, seconds: float, label: str = "hello"
) -> dict[str, Any]:
    """Closed-loop GETs of ``/`` on ``connections`` keep-alive connections spread over the pool."""
    each = max(1, math.ceil(connections / pool.size))
    await pool.all("http_get", path="/", concurrency=each, duration=min(1.0, seconds))
    meter = Meter(target, pool)
    await meter.start()
    progress(f"{label}: {each * pool.size} connections for {seconds:g} s")
    answers = await pool.all("http_get", path="/", concurrency=each, duration=seconds)
    cpu = await meter.stop()
    latencies = [x for a in answers for x in a["latencies_ms"]]
    elapsed = max(a["seconds"] for a in answers)
    requests = sum(a["requests"] for a in answers)
    result = {
        "connections": each * pool.size,
        "requests": requests,
        "errors": sum(a["errors"] for a in answers),
        "rps": round(requests / max(elapsed, 1e-9)),
        **summary_ms(latencies, digits=3),
        "mean_ms": round(statistics.fmean(latencies), 3) if latencies else 0.0,
        **cpu,
        # CPU per request depends far less than requests/s on what else the machine is running.
        "server_cpu_us_per_request": _per_request(cpu["server_cpu_s"], requests),
        "client_cpu_us_per_request": _per_request(cpu["client_cpu_s"], requests),
    }
    progress(
        f"{label}: {result['rps']} req/s, p99 {result['p99_ms']} ms, server cpu"
        f" {cpu['server_cpu_pct']}%, busiest client {cpu['client_cpu_max_pct']}%"
    )
    return result


def _per_request(cpu_s: float | None, requests: int) -> float | None:
    return None if cpu_s is None or not requests else round(cpu_s * 1e6 / requests, 1)
