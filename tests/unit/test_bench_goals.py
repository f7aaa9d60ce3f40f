"""The bench says each scenario's target and whether a run met it."""

from __future__ import annotations

from gomicroim.bench.goals import GOALS, judge
from gomicroim.bench.scenarios import SCENARIOS


def test_every_scenario_has_targets() -> None:
    assert set(GOALS) == set(SCENARIOS)


def test_one_run_is_met_or_not_per_target() -> None:
    rows = judge("latency", [{"p99_ms": 23.3, "missing": 0}], smoke=False)
    assert [(r["target"], r["measured"], r["met"]) for r in rows] == [
        ("p99_ms <= 10 ms", "23.3", "no"),
        ("missing == 0", "0", "yes"),
    ]


def test_several_runs_say_how_many_met_it() -> None:
    runs = [{"storm_s": 1.8, "complete": True}, {"storm_s": 3.3, "complete": True}]
    rows = judge("storm", runs, smoke=False)
    assert [(r["target"], r["measured"], r["met"]) for r in rows] == [
        ("storm_s <= 2 s", "1.8, 3.3", "1/2 runs"),
        ("complete is true", "true, true", "2/2 runs"),
    ]


def test_a_number_the_run_lacks_does_not_meet_the_target() -> None:
    (rate, p99) = judge("throughput", [{"best_rate": 0, "best_p99_ms": None}], smoke=False)
    assert (rate["met"], p99["met"], p99["measured"]) == ("no", "no", "none")


def test_smoke_sizes_do_not_claim_targets() -> None:
    rows = judge("connections", [{"connections": 40, "kib_per_connection": 20.0}], smoke=True)
    assert {r["met"] for r in rows} == {"n/a (smoke sizes)"}
