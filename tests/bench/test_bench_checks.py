"""The benchmark's guards: pure functions over one run's results (synthetic numbers here, no timing)."""

from __future__ import annotations

from typing import Any

from bench import checks
from bench.run import plan


def _nightshift(size: int, signal: str = "ssm", ratio: float = 1.1, lambda_s: float = 1.0,
                select_calls: dict[str, int] | None = None, delay: int = 300) -> dict[str, Any]:
    calls = select_calls or {"elbv2.DescribeTargetHealth": 2, "cloudwatch.GetMetricData": -(-size // 500),
                             "dynamodb.PutItem": 2, "dynamodb.GetItem": 1}
    return {"key": f"nightshift/{size}/{signal}", "status": "SUCCEEDED", "selected": "i-1", "leaker": "i-1",
            "selected_correctly": True, "connections_at_reboot": 0, "selection_calls": calls,
            "selection_cpu_seconds": 0.1, "lambda_seconds": lambda_s, "ratio": ratio, "remediation_seconds": 100.0,
            "physical_seconds": 95.0,
            "scenario": {"kind": "nightshift", "size": size, "delay": delay, "inflight": 0.0, "signal": signal,
                         "label": ""}}


def _baseline(size: int, ratio: float = 4.7, lambda_s: float = 420.0, delay: int = 300,
              killed: bool = False) -> dict[str, Any]:
    return {"key": f"baseline/{size}", "status": "SUCCEEDED", "selected": "i-1", "leaker": "i-1",
            "selected_correctly": True, "killed": killed, "lambda_seconds": lambda_s, "ratio": ratio,
            "remediation_seconds": 450.0, "physical_seconds": 95.0,
            "selection_calls": {"elbv2.DescribeTargetHealth": 2, "ec2.DescribeInstances": size,
                                "cloudwatch.GetMetricStatistics": size},
            "scenario": {"kind": "baseline", "size": size, "delay": delay, "inflight": 0.0, "label": ""}}


def test_selection_call_budget_is_one_per_target_group_plus_two_per_500_instances_plus_the_asg_lookup() -> None:
    # ListMetrics (discovery) and GetMetricData (the read) each take one call per 500 series
    assert checks.allowed_selection_calls(10) == 14  # 2 target groups + 10 ListMetrics by InstanceId + 1 + 1
    assert checks.allowed_selection_calls(1000) == 7
    assert checks.allowed_selection_calls(5000) == 23


def test_bookkeeping_writes_are_not_selection_calls() -> None:
    assert checks.selection_reads(_nightshift(1000)) == 4


def test_healthy_quick_run_passes() -> None:
    results = [_nightshift(10), _nightshift(100), _nightshift(100, "ssm"), _baseline(10), _baseline(100)]
    assert all(c.passed for c in checks.quick(results))


def test_a_regressed_ratio_fails_the_run() -> None:
    # GIVEN a run where Nightshift's drain got slow and its selection started calling per instance
    slow = _nightshift(100, ratio=1.3)
    chatty = _nightshift(10, select_calls={"elbv2.DescribeTargetHealth": 2, "ec2.DescribeInstances": 10,
                                          "cloudwatch.ListMetrics": 10, "cloudwatch.GetMetricData": 10})
    results = [slow, chatty, _baseline(10), _baseline(100)]
    # WHEN the quick checks run
    failed = {c.name for c in checks.quick(results) if not c.passed}
    # THEN both regressions are named
    assert any("time / physical limit" in name for name in failed)
    assert any("N=10: Nightshift selection calls" in name for name in failed)


def test_a_baseline_that_cannot_finish_counts_as_slower_than_twice_the_limit() -> None:
    results = [_nightshift(1000, delay=3600), _baseline(1000, ratio=0.0, delay=3600, killed=True)]
    time_checks = checks.remediation_time(results, 1000, baseline_delays=(3600,))
    assert all(c.passed for c in time_checks)


def test_quick_plan_is_small_and_full_plan_covers_the_matrix() -> None:
    quick = plan(quick=True)
    assert {s.size for s in quick} == {10, 100}
    assert {s.delay for s in quick} == {300}
    full = plan(quick=False)
    timing = {(s.delay, s.inflight, s.signal if s.kind == "nightshift" else "seed")
              for s in full if s.size == 1000}
    assert len(timing) == 3 * 2 * 3  # delays x in flight x (ssm, target_state, the seed)
    assert {s.size for s in full} == {10, 100, 1000, 5000}
