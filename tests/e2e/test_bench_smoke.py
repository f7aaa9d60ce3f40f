"""The benchmark tool still runs every scenario end to end (tiny sizes, no speed targets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

SERVER_SCENARIOS = ["latency", "throughput", "fanout", "connections", "storm"]


def _bench(tmp_path: Path, *args: str, timeout: float) -> tuple[dict[str, Any], str]:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "gomicroim.bench", "--smoke", "--json", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _assert_client_cpu_reported(run: dict[str, Any], *, busy: bool = True) -> None:
    """Client CPU fields are present; with ``busy``, they show the clients' work.

    CPU times tick in 10 ms steps, and the smoke run's 40 idle sockets connect in a few ms,
    so the connections scenario's client CPU may read 0.
    """
    assert run["client_processes"] >= 1
    if busy:
        assert run["client_cpu_s"] > 0
        assert 0 < run["client_cpu_max_pct"] <= run["client_cpu_pct"]
    else:
        assert run["client_cpu_s"] >= 0
        assert 0 <= run["client_cpu_max_pct"] <= run["client_cpu_pct"]
    assert isinstance(run["client_bound"], bool)


def test_bench_smoke_runs_every_scenario_and_loses_nothing(tmp_path: Path) -> None:
    report, stdout = _bench(tmp_path, *SERVER_SCENARIOS, timeout=240)
    runs = {name: data["runs"][0] for name, data in report["scenarios"].items()}
    assert list(runs) == SERVER_SCENARIOS
    for name, run in runs.items():
        if name == "throughput":
            run = run["steps"][-1]
        _assert_client_cpu_reported(run, busy=name != "connections")
        assert run["server_cpu_pct"] > 0, name

    latency = runs["latency"]
    assert latency["acked"] == latency["sent"] > 0
    assert (latency["delivered"], latency["missing"], latency["duplicates"]) == (
        latency["acked"],
        0,
        0,
    )
    assert runs["throughput"]["best_rate"] > 0
    fanout = runs["fanout"]
    assert fanout["delivered"] == fanout["acked"] * fanout["members"] > 0
    assert fanout["duplicates"] == 0
    assert runs["connections"]["connections"] == 40
    assert runs["storm"]["complete"] is True, runs["storm"]["failures"]
    # The human table is printed for each scenario, with its targets and whether they were
    # met (at smoke sizes they do not apply, and the output says so).
    for name, data in report["scenarios"].items():
        assert f"== {name}" in stdout
        section = stdout.split(f"== {name}", 1)[1].split("\n== ", 1)[0]
        assert data["targets"], name
        for target in data["targets"]:
            assert target["met"] == "n/a (smoke sizes)", target
            assert target["target"] in section, (name, target["target"])
        assert "met" in section


def test_bench_baselines_measure_fsync_and_a_hello_world_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "disk"
    report, stdout = _bench(
        tmp_path,
        "fsync",
        "hello",
        "hello-litestar",
        "hello-granian",
        "--repeat",
        "2",
        "--data-dir",
        str(data_dir),
        timeout=90,
    )
    scenarios = report["scenarios"]
    assert list(scenarios) == ["fsync", "hello", "hello-litestar", "hello-granian"]

    for fsync in scenarios["fsync"]["runs"]:
        assert fsync["path"] == str(data_dir)
        assert 0 < fsync["p50_ms"] <= fsync["p99_ms"]
        assert 0 < fsync["fdatasync_p50_ms"] <= fsync["fdatasync_p99_ms"]
        assert fsync["iterations"] == 20
    assert list(data_dir.iterdir()) == []  # its files are removed

    # granian serves from a worker process: its CPU is counted with the server's.
    for name in ("hello", "hello-litestar", "hello-granian"):
        runs = scenarios[name]["runs"]
        assert len(runs) == 2
        for run in runs:
            assert run["rps"] > 0, name
            assert run["errors"] == 0, name
            assert run["requests"] >= run["rps"] * 0.5, name  # about one second of requests
            assert 0 < run["p50_ms"] <= run["p99_ms"], name
            assert run["server_cpu_pct"] > 0, name
            assert run["server_cpu_us_per_request"] > 0, name
            _assert_client_cpu_reported(run)
        # Two runs: the table shows the median and the range of each number.
        section = stdout.split(f"== {name} ", 1)[1].split("\n== ", 1)[0]
        assert "(median [min-max] of 2 run(s))" in section
        assert "client_cpu_max_pct" in section
        assert scenarios[name]["summary"]["rps"].count("[") == 1
        assert scenarios[name]["targets"] == []
