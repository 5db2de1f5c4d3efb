"""The fleet bench (bench/fleet.py): its arithmetic and its guards, on synthetic numbers (no runtime, no timing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import checks, fleet, run


def test_leakers_are_distinct_indexes_spread_over_the_fleet_and_the_same_for_a_seed() -> None:
    chosen = fleet.leaker_indexes(1000, 50)
    assert len(set(chosen)) == 50 and chosen == sorted(chosen) and all(0 <= i < 1000 for i in chosen)
    assert chosen == fleet.leaker_indexes(1000, 50)
    assert chosen != fleet.leaker_indexes(1000, 50, seed=18)
    # the simulator places instance i in AZ i mod 3: a sample of 50 lands in all three
    assert {i % 3 for i in chosen} == {0, 1, 2}
    with pytest.raises(ValueError, match="51 leaking instances do not fit a fleet of 50"):
        fleet.leaker_indexes(50, 51)


def test_a_climb_crosses_the_threshold_exactly_one_cycle_after_the_boot() -> None:
    # from 40 % to 85 %, crossing 65 % after 2 hours: 45 points of climb take 2 h x 45 / 25
    climb = fleet.climb_seconds(7200, base=40, threshold=65, top=85)
    assert climb == pytest.approx(12960)
    assert 40 + 45 * 7200 / climb == pytest.approx(65)
    with pytest.raises(ValueError, match="never crosses a threshold of 90"):
        fleet.climb_seconds(7200, base=40, threshold=90, top=85)


def test_steady_leaks_have_their_cycle_in_range_and_a_phase_within_it() -> None:
    leaks = fleet.steady_leaks(200, 65.0, (2.0, 3.0))
    assert leaks == fleet.steady_leaks(200, 65.0, (2.0, 3.0))
    assert all(7200 <= leak.cycle <= 10800 for leak in leaks)
    assert all(0 <= leak.elapsed <= leak.cycle for leak in leaks)
    assert all(30 <= leak.base <= 55 for leak in leaks)
    assert all(leak.climb == pytest.approx(fleet.climb_seconds(leak.cycle, leak.base, 65.0, 85.0)) for leak in leaks)
    # phases spread over the cycle: not all in its first or last half
    halves = {leak.elapsed < leak.cycle / 2 for leak in leaks}
    assert halves == {True, False}


def test_time_above_counts_each_sample_for_the_step_after_it_and_down_as_not_above() -> None:
    samples: list[float | None] = [None, 70.0, 70.0, 60.0, 66.0, None, 65.0, 80.0]
    above = fleet.time_above(samples, threshold=65.0, step=10.0)
    # 70, 70 | 66 | 80 (65 is not above 65; None is down)
    assert above.episodes == [20.0, 10.0, 10.0]
    assert above.seconds == 40.0
    assert fleet.time_above([], 65.0, 10.0).seconds == 0.0


def test_lowest_healthy_takes_the_point_in_effect_at_the_start_and_none_after_the_end() -> None:
    points = [(0.0, {"a": 10, "b": 10}), (5.0, {"a": 7, "b": 10}), (10.0, {"a": 9, "b": 8}),
              (20.0, {"a": 2, "b": 2})]
    # from 6 s: the point at 5 s is still in effect (a 7); the one at 20 s is after the end
    assert fleet.lowest_healthy(points, since=6.0, until=15.0) == {"a": 7, "b": 8}
    assert fleet.lowest_healthy(points, since=0.0, until=4.0) == {"a": 10, "b": 10}
    assert fleet.lowest_healthy(points, since=0.0, until=20.0) == {"a": 2, "b": 2}


def test_an_hourly_sweep_heals_one_leaker_an_hour() -> None:
    assert fleet.hourly_sweep_hours(50, 3600.0) == 50.0
    assert fleet.hourly_sweep_hours(50, 106.0) == pytest.approx(49 + 106 / 3600)


def test_each_windows_peak_is_set_against_what_a_full_bucket_admits_in_it() -> None:
    # ELB's account-level bucket: 40 tokens, 10 a second: 50 in 1 s, 140 in 10 s, 640 in 60 s
    assert fleet.percent_by_window({1.0: 74, 10.0: 546, 60.0: 1252}, 10.0, 40.0) == \
        {"1": 148.0, "10": 390.0, "60": 195.6}
    # a flat TPS limit (no bucket): TPS x window
    assert fleet.percent_by_window({1.0: 25, 10.0: 50, 60.0: 60}, 25.0, None) == {"1": 100.0, "10": 20.0, "60": 4.0}
    assert fleet.percent_by_window({1.0: 5}, None, None) is None


def test_slots_are_max_in_flight_of_the_registered_instances() -> None:
    assert fleet.slots("10%", 1000) == 100
    assert fleet.slots(1, 1000) == 1
    assert fleet.slots("10%", 5) == 1


def test_both_runs_of_a_scenario_declare_the_same_group_but_max_in_flight() -> None:
    for concurrent, serial in ((fleet.Throughput(1000, 50, "10%"), fleet.Throughput(1000, 50, 1)),
                               (fleet.Steady(100, 12.0, "10%"), fleet.Steady(100, 12.0, 1))):
        a, b = fleet.group_settings(concurrent), fleet.group_settings(serial)
        assert (a.pop("max_in_flight"), b.pop("max_in_flight")) == ("10%", 1)
        assert a == b


# -- the guards ---------------------------------------------------------------------------------------------

def _api(percent: float, operation: str = "elbv2.DescribeTargetHealth") -> dict[str, Any]:
    row = {"operation": operation, "percent_of_limit": percent, "window_seconds": 10.0, "calls": 10}
    return {"rows": [row], "worst": row}


def _capacity(lowest: int = 950, floor: int = 500, most: int = 50, slots: int = 100) -> dict[str, Any]:
    return {"lowest": lowest, "floor": floor, "lowest_healthy": {"web-https": lowest}, "most_out_of_service": most,
            "max_in_flight_slots": slots}


def _throughput(slots: int, all_healed: float, median: float = 105.0, percent: float = 20.0,
                **capacity: int) -> dict[str, Any]:
    return {"key": f"throughput/{slots}", "slots": slots, "leakers": 50, "healed": 50, "reboots_per_leaker": [1],
            "others_rebooted": 0, "executions": {"SUCCEEDED": 50}, "all_healed_seconds": all_healed,
            "remediation_seconds": {"median": median}, "capacity": _capacity(slots=slots, **capacity),
            "api": _api(percent), "scenario": {"kind": "throughput", "size": 1000}}


def _steady(slots: int, share: float, percent: float = 20.0) -> dict[str, Any]:
    return {"key": f"steady/{slots}", "slots": slots, "share_above_threshold": share,
            "executions": {"remediate": {"SUCCEEDED": 10, "RUNNING": 1}},
            "capacity": _capacity(most=slots, slots=slots), "api": _api(percent),
            "scenario": {"kind": "steady", "size": 100}}


def _failed(results: list[dict[str, Any]], gate_api: bool = True) -> list[str]:
    return [c.name for c in checks.fleet(results, gate_api) if not c.passed]


def test_the_fleet_guards_pass_a_run_that_meets_every_target() -> None:
    results = [_throughput(100, 134.0), _throughput(1, 5300.0, most=1), _steady(10, 0.05), _steady(1, 0.4)]
    gates = checks.fleet(results)
    assert gates and all(c.passed for c in gates)
    assert checks.fleet_time_ratio(results[0], results[1]) == pytest.approx(134.0 / 105.0)


def test_the_fleet_guards_fail_a_slow_heal_a_floor_breach_a_busy_api_and_a_useless_concurrency() -> None:
    results = [_throughput(100, 400.0, lowest=499, percent=390.0), _throughput(1, 5300.0, most=2),
               _steady(10, 0.5), _steady(1, 0.4)]
    failed = _failed(results)
    assert "throughput/100: time until every leaker is healed / one remediation's time" in failed  # 3.8x > 3x
    assert "throughput/100: fewest healthy targets at any instant >= the group's minimum" in failed
    assert "throughput/100: every API <= 50 % of its documented limit" in failed
    assert "throughput/1: most instances out of service at once <= max_in_flight" in failed
    assert any(name.startswith("steady/10: share of instance-time above the threshold") for name in failed)
    # the quick form leaves the API target to the full run
    assert "throughput/100: every API <= 50 % of its documented limit" not in _failed(results, gate_api=False)


def test_a_leaker_left_unhealed_or_rebooted_twice_fails() -> None:
    twice = {**_throughput(100, 134.0), "reboots_per_leaker": [1, 2]}
    unhealed = {**_throughput(100, 134.0), "healed": 49}
    for r in (twice, unhealed):
        assert "throughput/100: every leaker healed, rebooted once, nothing else touched, no execution failed" in \
            _failed([r, _throughput(1, 5300.0, most=1)])


def test_a_fleet_run_refuses_uncommitted_changes_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(run, "uncommitted", lambda: ["steps/remediate/check_capacity.py"])
    monkeypatch.setattr(fleet, "run_scenarios", lambda *_: pytest.fail("the fleet bench ran on a dirty tree"))
    assert fleet.main(["--out", str(tmp_path)]) == 2
    assert list(tmp_path.iterdir()) == []
    assert "steps/remediate/check_capacity.py" in capsys.readouterr().err


def test_neither_bench_counts_the_other_ones_outputs_as_uncommitted_changes() -> None:
    assert {":!bench/fleet-results.json", ":!bench/fleet-results.md", ":!bench/fleet-results-quick.*"} <= \
        set(run.OUTPUTS)


def test_the_committed_results_render_with_both_scenarios_and_every_failed_check_marked() -> None:
    import json

    from bench import fleet_report

    document = json.loads((Path(fleet.HERE) / "fleet-results.json").read_text())
    text = fleet_report.markdown(document)
    assert "## A. Throughput: 50 leakers in a group of 1,000" in text
    assert "## B. Steady state: 100 instances" in text
    failed = [c for c in document["checks"] if not c["passed"]]
    assert text.count("| **FAIL** |") == len(failed)
