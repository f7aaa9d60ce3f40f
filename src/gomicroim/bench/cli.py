"""``gomicroim bench [SCENARIO ...]``: run scenarios, print tables, write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from gomicroim.bench.baselines import HELLO_APPS, fsync_baseline, hello
from gomicroim.bench.goals import judge
from gomicroim.bench.loadgen import ClientPool
from gomicroim.bench.meter import CLIENT_BOUND_PCT
from gomicroim.bench.scenarios import SCENARIOS, Sizes
from gomicroim.bench.stats import progress, table

#: The numbers each scenario's table shows (and whose medians are reported across runs).
HEADLINE = {
    "latency": [
        "acked",
        "delivered",
        "missing",
        "duplicates",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "ack_p99_ms",
        "server_cpu_pct",
        "client_cpu_pct",
        "client_cpu_max_pct",
    ],
    "throughput": [
        "best_rate",
        "best_p99_ms",
        "best_server_cpu_pct",
        "best_client_cpu_pct",
        "best_client_cpu_max_pct",
    ],
    "fanout": [
        "members",
        "acked",
        "delivered",
        "missing",
        "duplicates",
        "deliveries_per_s",
        "p50_ms",
        "p99_ms",
        "server_cpu_pct",
        "client_cpu_pct",
        "client_cpu_max_pct",
    ],
    "connections": [
        "connections",
        "connect_s",
        "connects_per_s",
        "rss_before_mib",
        "rss_after_mib",
        "kib_per_connection",
        "server_cpu_pct",
        "client_cpu_pct",
        "client_cpu_max_pct",
    ],
    "storm": [
        "clients",
        "messages_each",
        "fanout_s",
        "storm_s",
        "complete",
        "server_cpu_pct",
        "client_cpu_pct",
        "client_cpu_max_pct",
    ],
    "fsync": [
        "filesystem",
        "iterations",
        "p50_ms",
        "p99_ms",
        "mean_ms",
        "serial_syncs_per_s",
        "fdatasync_p50_ms",
        "fdatasync_p99_ms",
        "fdatasync_mean_ms",
        "client_cpu_pct",
    ],
    **{
        name: [
            "connections",
            "requests",
            "errors",
            "rps",
            "p50_ms",
            "p99_ms",
            "mean_ms",
            "server_cpu_pct",
            "client_cpu_pct",
            "client_cpu_max_pct",
            "server_cpu_us_per_request",
            "client_cpu_us_per_request",
        ]
        for name in HELLO_APPS
    },
}

#: Every scenario in the order ``gomicroim bench`` runs them: the baselines first.
ALL = ["fsync", *HELLO_APPS, *SCENARIOS]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gomicroim bench",
        description="Load scenarios against a gomicroim server, from separate client processes.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join(ALL)} (default: all)",
    )
    parser.add_argument(
        "--url",
        help="drive this running server instead of spawning one"
        " (its CPU and memory are then not measured unless --pid is given)",
    )
    parser.add_argument("--pid", type=int, help="process id of the server given with --url")
    parser.add_argument(
        "--repeat",
        "--runs",
        dest="runs",
        metavar="N",
        type=int,
        default=1,
        help="run each scenario N times (fresh server each); tables show median [min-max]",
    )
    parser.add_argument(
        "--clients",
        "--processes",
        dest="processes",
        metavar="N|auto",
        type=_clients,
        default=2,
        help="load client processes (default 2); 'auto': start with 2 and, while a client"
        " process is saturated, run again with one more (up to twice the cores)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the fsync baseline writes (default: the temp dir, where a spawned server's"
        " SQLite file lives); give the production data dir to measure its disk",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, for CI")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    for field in dataclasses.fields(Sizes):
        if field.name == "ramp_rates":
            parser.add_argument("--ramp-rates", help="comma-separated offered rates for throughput")
        else:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=float)
    return parser


def _clients(value: str) -> int:
    # 0 stands for "auto" (argparse hands every option's value through one type function).
    if value == "auto":
        return 0
    count = int(value)
    if count < 1:
        raise argparse.ArgumentTypeError("at least 1 client process, or auto")
    return count


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.smoke() if args.smoke else Sizes()
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(Sizes):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if field.name == "ramp_rates":
            changes[field.name] = tuple(float(v) for v in value.split(","))
        elif isinstance(getattr(sizes, field.name), int):
            changes[field.name] = int(value)
        else:
            changes[field.name] = value
    return dataclasses.replace(sizes, **changes)


def _raise_file_limit() -> None:
    # 10,000 sockets need more than the usual 1,024 descriptors, on both sides.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _run_once(
    name: str, args: argparse.Namespace, sizes: Sizes, processes: int
) -> dict[str, Any]:
    from gomicroim.bench.target import Target

    if name == "fsync":
        return fsync_baseline(sizes.fsync_iterations, sizes.fsync_bytes, args.data_dir)
    if name in HELLO_APPS:
        # Always a local hello-world process, whatever --url says: it is the baseline.
        target = Target.spawn_hello(*HELLO_APPS[name])
    else:
        target = Target(args.url, args.pid) if args.url else Target.spawn()
    pool = ClientPool(target.url, processes)
    try:
        if name in HELLO_APPS:
            return await hello(
                target,
                pool,
                connections=sizes.hello_connections,
                seconds=sizes.hello_s,
                label=name,
            )
        return await SCENARIOS[name](target, pool, sizes)
    finally:
        pool.close()
        target.stop()


async def _run_scaled(name: str, args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    """One run of ``name``; with ``--clients auto``, repeated while a client process was saturated.

    Each repeat has one more client process, up to twice the cores: past that more processes
    only share the same CPUs.
    """
    auto = args.processes == 0
    processes = 2 if auto else args.processes
    limit = 2 * (os.cpu_count() or 1)
    result = await _run_once(name, args, sizes, processes)
    while auto and name != "fsync" and result.get("client_bound") and processes < limit:
        processes += 1
        progress(f"{name}: a client process was saturated; again with {processes} processes")
        result = await _run_once(name, args, sizes, processes)
    return result


def _median_row(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"scenario": name, "runs": len(runs)}
    for key in [*HEADLINE[name], "loadavg_1m"]:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values and all(not isinstance(v, bool) for v in values):
            median = statistics.median(values)
            row[key] = (
                f"{median:g}"
                if len(values) == 1
                else f"{median:g} [{min(values):g}-{max(values):g}]"
            )
        else:
            row[key] = ",".join(dict.fromkeys(str(r.get(key)) for r in runs))
    return row


def _client_warning(name: str, runs: list[dict[str, Any]]) -> str | None:
    """A warning when a load client process was saturated in any run, else None."""
    bound = sum(bool(run.get("client_bound")) for run in runs)
    if not bound:
        return None
    if name == "fsync":
        return None  # no load client: the one process is the measurement itself
    processes = max(_processes(run) for run in runs)
    return (
        f"WARNING: {name}: a load client process used >= {CLIENT_BOUND_PCT:g} % of a core in"
        f" {bound}/{len(runs)} run(s); the result may measure the client, not the server."
        f" Rerun with --clients {processes + 1} or more (machine has {os.cpu_count()} cores)."
    )


def _processes(run: dict[str, Any]) -> int:
    # The throughput ramp reports CPU per step; every step ran on the same pool.
    steps = run.get("steps") or [run]
    return int(steps[-1].get("client_processes", 0))


async def _main(args: argparse.Namespace) -> int:
    sizes = _sizes(args)
    names = args.scenarios or ALL
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "started_at": int(time.time()),
        "sizes": dataclasses.asdict(sizes),
        "scenarios": {},
    }
    for name in names:
        runs = []
        for run in range(args.runs):
            progress(f"{name}: run {run + 1}/{args.runs}")
            result = await _run_scaled(name, args, sizes)
            # The machine is often shared: the load average says how busy it was meanwhile.
            result["loadavg_1m"] = round(os.getloadavg()[0], 2)
            runs.append(result)
        row = _median_row(name, runs)
        targets = judge(name, runs, smoke=args.smoke)
        warning = _client_warning(name, runs)
        report["scenarios"][name] = {
            "runs": runs,
            "summary": row,
            "targets": targets,
            "client_bound_runs": sum(bool(run.get("client_bound")) for run in runs),
            "warnings": [warning] if warning else [],
        }
        print(f"\n== {name} (median [min-max] of {args.runs} run(s)) ==")
        print(table([row], ["runs", *HEADLINE[name], "loadavg_1m"]))
        if targets:
            print(table(targets, ["target", "measured", "met"]))
        else:
            print("(a baseline: no target, it bounds what the scenarios can reach)")
        if warning:
            print(warning)
        if name == "throughput":
            steps = runs[-1]["steps"]
            print(
                table(
                    steps,
                    [
                        "offered_rate",
                        "acked",
                        "delivered",
                        "missing",
                        "p50_ms",
                        "p99_ms",
                        "ack_p99_ms",
                        "server_cpu_pct",
                        "client_cpu_pct",
                        "client_cpu_max_pct",
                        "passed",
                    ],
                )
            )
        sys.stdout.flush()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        progress(f"results written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gomicroim bench`` and ``python -m gomicroim.bench``."""
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in ALL]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(ALL)}")
    if args.runs < 1:
        parser.error("--repeat must be at least 1")
    _raise_file_limit()
    return uvloop.run(_main(args))
