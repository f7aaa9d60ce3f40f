"""The benchmark tool still runs every scenario end to end (tiny sizes, no speed targets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_bench_smoke_runs_every_scenario_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "gomicroim.bench", "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    runs = {name: data["runs"][0] for name, data in report["scenarios"].items()}
    assert set(runs) == {"latency", "throughput", "fanout", "connections", "storm"}

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
        assert f"== {name}" in proc.stdout
        section = proc.stdout.split(f"== {name}", 1)[1].split("\n== ", 1)[0]
        assert data["targets"], name
        for target in data["targets"]:
            assert target["met"] == "n/a (smoke sizes)", target
            assert target["target"] in section, (name, target["target"])
        assert "met" in section
