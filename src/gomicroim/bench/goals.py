"""Each scenario's performance targets and whether a run met them."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Goal:
    """One bound on one reported number, e.g. ``p99_ms <= 10``."""

    key: str
    op: str
    bound: float | bool
    unit: str = ""

    @property
    def text(self) -> str:
        """The target as people read it."""
        return (
            f"{self.key} {self.op} {self.bound:g}{self.unit}"
            if not isinstance(self.bound, bool)
            else f"{self.key} is {str(self.bound).lower()}"
        )

    def met(self, run: dict[str, Any]) -> bool:
        """Whether ``run`` meets this bound (a missing number does not)."""
        value = run.get(self.key)
        if value is None or isinstance(value, str):
            return False
        return _COMPARE[self.op](value, self.bound)


#: The targets in the README's Performance table, per scenario (performance pass 2). The
#: latency target is also bounded by the disk: p99 <= the fsync baseline's p99 + 3 ms.
GOALS: dict[str, tuple[Goal, ...]] = {
    "latency": (Goal("p99_ms", "<=", 10, " ms"), Goal("missing", "==", 0)),
    "throughput": (Goal("best_rate", ">=", 3000, " msg/s"), Goal("best_p99_ms", "<", 100, " ms")),
    "fanout": (
        Goal("deliveries_per_s", ">=", 60_000),
        Goal("p99_ms", "<", 100, " ms"),
        Goal("missing", "==", 0),
    ),
    "connections": (
        Goal("connections", ">=", 10_000),
        Goal("kib_per_connection", "<=", 15, " KiB"),
    ),
    "storm": (Goal("storm_s", "<=", 2, " s"), Goal("complete", "==", True)),
}


def judge(name: str, runs: list[dict[str, Any]], *, smoke: bool) -> list[dict[str, Any]]:
    """One row per target of scenario ``name``: the target, each run's number, whether met.

    ``met`` is ``yes``/``no`` for one run and ``k/N runs`` for several; with smoke sizes the
    targets do not apply (they are for full-size runs) and ``met`` says so.
    """
    rows = []
    for goal in GOALS.get(name, ()):
        passed = sum(goal.met(run) for run in runs)
        if smoke:
            met = "n/a (smoke sizes)"
        elif len(runs) == 1:
            met = "yes" if passed else "no"
        else:
            met = f"{passed}/{len(runs)} runs"
        rows.append(
            {
                "target": goal.text,
                "measured": ", ".join(_show(run.get(goal.key)) for run in runs),
                "met": met,
                "met_runs": passed,
            }
        )
    return rows


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return f"{value:g}" if isinstance(value, int | float) else str(value)
