"""Percentiles, a plain-text table and progress lines for benchmark output."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(samples: Sequence[float], digits: int = 2) -> dict[str, float]:
    """p50/p95/p99/max of latencies given in milliseconds, rounded to ``digits`` decimals."""
    return {
        "p50_ms": round(percentile(samples, 50), digits),
        "p95_ms": round(percentile(samples, 95), digits),
        "p99_ms": round(percentile(samples, 99), digits),
        "max_ms": round(max(samples), digits) if samples else 0.0,
    }


def table(rows: list[dict[str, object]], columns: list[str]) -> str:
    """Rows as an aligned text table."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


_started = time.monotonic()


def progress(message: str) -> None:
    """One progress line on stderr with the seconds since start."""
    sys.stderr.write(f"[{time.monotonic() - _started:7.1f}s] {message}\n")
    sys.stderr.flush()
