"""The bench report: CPU of server and clients, the saturated-client warning, run ranges."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from gomicroim.bench import cli
from gomicroim.bench.baselines import fsync_baseline
from gomicroim.bench.cli import HEADLINE, _client_warning, _median_row
from gomicroim.bench.meter import cpu_fields
from gomicroim.bench.scenarios import Sizes


def test_cpu_is_reported_per_side_and_per_busiest_client_process() -> None:
    fields = cpu_fields(2.0, 1.5, [0.4, 1.9])
    assert fields["server_cpu_pct"] == 75.0
    assert fields["client_cpu_s"] == 2.3
    assert fields["client_cpu_pct"] == 115.0
    # 115 % over two processes could be two half-busy loops; the busiest one is at 95 %.
    assert fields["client_cpu_max_pct"] == 95.0
    assert fields["client_bound"] is True


def test_clients_with_spare_cpu_are_not_the_bound() -> None:
    fields = cpu_fields(2.0, None, [0.9, 0.9])
    assert (fields["client_cpu_pct"], fields["client_bound"]) == (90.0, False)
    assert fields["server_cpu_pct"] is None  # no server process to measure


def test_a_saturated_client_gets_a_warning_naming_the_option() -> None:
    runs = [
        {"client_bound": True, "client_processes": 2},
        {"client_bound": False, "client_processes": 2},
        {"client_bound": False, "client_processes": 2},
    ]
    warning = _client_warning("hello", runs)
    assert warning is not None
    assert "1/3 run(s)" in warning
    assert "--clients 3" in warning
    assert _client_warning("hello", [{"client_bound": False, "client_processes": 2}]) is None


@pytest.mark.parametrize(("clients", "expected"), [("auto", [2, 3, 4]), ("2", [2])])
def test_auto_clients_adds_processes_while_one_is_saturated(
    monkeypatch: pytest.MonkeyPatch, clients: str, expected: list[int]
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    used: list[int] = []

    async def fake_run(
        name: str, args: argparse.Namespace, sizes: Sizes, processes: int
    ) -> dict[str, Any]:
        used.append(processes)
        # Saturated below four processes; the fourth keeps up.
        return {"client_bound": processes < 4, "client_processes": processes}

    monkeypatch.setattr(cli, "_run_once", fake_run)
    args = cli._parser().parse_args(["hello", "--clients", clients])
    result = asyncio.run(cli._run_scaled("hello", args, Sizes.smoke()))
    assert used == expected
    assert result["client_processes"] == expected[-1]


def test_auto_clients_stops_at_twice_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    used: list[int] = []

    async def always_saturated(
        name: str, args: argparse.Namespace, sizes: Sizes, processes: int
    ) -> dict[str, Any]:
        used.append(processes)
        return {"client_bound": True, "client_processes": processes}

    monkeypatch.setattr(cli, "_run_once", always_saturated)
    args = cli._parser().parse_args(["latency", "--clients", "auto"])
    asyncio.run(cli._run_scaled("latency", args, Sizes.smoke()))
    assert used == [2, 3, 4]


def test_repeated_runs_show_median_and_range() -> None:
    runs = [
        {"rps": 900, "p50_ms": 1.0, "loadavg_1m": 3.0},
        {"rps": 1200, "p50_ms": 2.0, "loadavg_1m": 4.0},
        {"rps": 1000, "p50_ms": 1.5, "loadavg_1m": 5.0},
    ]
    row = _median_row("hello", runs)
    assert row["rps"] == "1000 [900-1200]"
    assert row["p50_ms"] == "1.5 [1-2]"
    assert row["loadavg_1m"] == "4 [3-5]"
    assert row["runs"] == 3


def test_every_scenario_table_shows_client_cpu() -> None:
    for name, columns in HEADLINE.items():
        assert any("client_cpu" in c for c in columns), name


def test_fsync_baseline_measures_syncs_in_the_given_dir_and_cleans_up(tmp_path: Path) -> None:
    result = fsync_baseline(10, 256, tmp_path)
    assert result["iterations"] == 10
    assert result["path"] == str(tmp_path)
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["mean_ms"] > 0
    assert result["serial_syncs_per_s"] > 0
    assert result["fdatasync_p50_ms"] > 0
    assert result["filesystem"] != ""
    assert result["client_bound"] is False
    assert list(tmp_path.iterdir()) == []
