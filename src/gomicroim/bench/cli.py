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

from gomicroim.bench.goals import judge
from gomicroim.bench.loadgen import ClientPool
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
    ],
    "throughput": ["best_rate", "best_p99_ms", "best_server_cpu_pct", "best_client_cpu_pct"],
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
    ],
    "connections": [
        "connections",
        "connect_s",
        "connects_per_s",
        "rss_before_mib",
        "rss_after_mib",
        "kib_per_connection",
    ],
    "storm": ["clients", "messages_each", "fanout_s", "storm_s", "complete"],
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gomicroim bench",
        description="Load scenarios against a gomicroim server, from separate client processes.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--url",
        help="drive this running server instead of spawning one"
        " (its CPU and memory are then not measured unless --pid is given)",
    )
    parser.add_argument("--pid", type=int, help="process id of the server given with --url")
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat each scenario (fresh server each)"
    )
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, for CI")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    for field in dataclasses.fields(Sizes):
        if field.name == "ramp_rates":
            parser.add_argument("--ramp-rates", help="comma-separated offered rates for throughput")
        else:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=float)
    return parser


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


async def _run_once(name: str, args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    from gomicroim.bench.target import Target

    target = Target(args.url, args.pid) if args.url else Target.spawn()
    pool = ClientPool(target.url, args.processes)
    try:
        return await SCENARIOS[name](target, pool, sizes)
    finally:
        pool.close()
        target.stop()


def _median_row(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"scenario": name, "runs": len(runs)}
    for key in HEADLINE[name]:
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values and all(not isinstance(v, bool) for v in values):
            median = statistics.median(values)
            row[key] = (
                f"{median:g}"
                if len(values) == 1
                else f"{median:g} [{min(values):g}-{max(values):g}]"
            )
        else:
            row[key] = ",".join(str(r.get(key)) for r in runs)
    return row


async def _main(args: argparse.Namespace) -> int:
    sizes = _sizes(args)
    names = args.scenarios or list(SCENARIOS)
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
            runs.append(await _run_once(name, args, sizes))
        row = _median_row(name, runs)
        targets = judge(name, runs, smoke=args.smoke)
        report["scenarios"][name] = {"runs": runs, "summary": row, "targets": targets}
        print(f"\n== {name} (median [min-max] of {args.runs} run(s)) ==")
        print(table([row], ["runs", *HEADLINE[name]]))
        print(table(targets, ["target", "measured", "met"]))
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
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    _raise_file_limit()
    return uvloop.run(_main(args))
