"""Selection reads the last N periods whose datapoints are complete and readable despite CloudWatch's
ingestion delay, against the fleet simulator's timing (agent resolution, ingestion delay)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from nightshift.runtime.clock import VirtualClock
from nightshift.runtime.runner import LocalRuntime
from nightshift.sim import FleetSpec, InstanceSpec
from steps.aws import cloudwatch
from tests import harness
from tests.harness import invoke

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:timing-"

Select = Callable[..., dict[str, Any]]


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """(StartTime, EndTime) of every GetMetricData window selection asks for, in order."""
    seen: list[tuple[float, float]] = []
    real = cloudwatch.discover_and_read

    def recording(queries: Any, start: datetime, end: datetime) -> Any:
        seen.append((start.timestamp(), end.timestamp()))
        return real(queries, start, end)

    monkeypatch.setattr(cloudwatch, "discover_and_read", recording)
    return seen


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    with harness.runtime() as rt:
        yield rt


def fleet(rt: LocalRuntime, spec: FleetSpec, **metric: Any) -> tuple[Any, Select]:
    """Build the fleet, declare it with ``metric``, and return (the built fleet, a selection caller)."""
    _sim, built = rt.add_fleet(spec)
    rt.declare_groups([built.group_declaration(metric=metric)])
    runs = iter(range(1, 100))

    def select() -> dict[str, Any]:
        name = f"timing-{next(runs)}"
        state = invoke("validate-request", {"execution_id": EXECUTION + name, "execution_name": name,
                                            "input": {"group": "web"}})
        return dict(invoke("select-worst-instance", {"execution_id": EXECUTION + name, "state": state}))

    return built, select


def test_with_a_2_minute_ingestion_delay_5_of_5_still_picks_the_leaker(runtime: LocalRuntime,
                                                                       windows: list[tuple[float, float]]) -> None:
    # GIVEN CloudWatch that makes a sample readable 2 minutes after the agent collected it, and a rule
    # that needs all of the last 5 datapoints to breach
    built, select = fleet(runtime, FleetSpec(metric_ingestion_delay_seconds=120),
                          threshold=65.0, breaching_datapoints=5, evaluation_datapoints=5,
                          ingestion_delay_seconds=120)
    runtime.clock.advance(30)
    # WHEN selection runs
    out = select()
    # THEN it reads five complete minutes that ended at least 2 minutes ago, and picks the leaker: reading
    # up to now would have counted the two not-yet-readable minutes as missing and found only 3 of 5
    assert out["action"] == "remediate" and out["instance_id"] == built.instance_ids[5]
    [(start, end)] = windows
    now = runtime.clock.now()
    assert end <= now - 120 < end + 60 and end - start == 5 * 60


@pytest.fixture
def runtime_at_half_past() -> Iterator[LocalRuntime]:
    """A runtime whose clock starts 30 s past a minute, so which minutes are complete does not depend on the
    second the test happens to run at (later in the minute, the one readable minute has no sample yet and the
    answer is ``no_metric_data`` instead)."""
    start = (int(time.time()) // 60) * 60 + 30
    with harness.runtime(clock=VirtualClock(start=start)) as rt:
        yield rt


def test_too_few_readable_datapoints_is_nothing_to_do_until_they_are_ingested(
        runtime_at_half_past: LocalRuntime) -> None:
    runtime = runtime_at_half_past
    # GIVEN a leaker whose metric exists only since 150 s ago (a fresh agent), 3 of the last 5 to breach
    built, select = fleet(runtime, FleetSpec(metric_history_seconds=150,
                                             leaking={5: InstanceSpec(leak_to_percent=85.0)}),
                          threshold=65.0, breaching_datapoints=3, evaluation_datapoints=5)
    # WHEN selection runs now: at most one complete minute is readable (60 s ingestion delay)
    first = select()
    # THEN nothing is picked: missing datapoints are not breaches
    assert first["action"] == "nothing_to_do"
    assert "3 of the last 5" in first["reason"]
    # WHEN four more minutes pass, so at least three complete minutes have been ingested
    runtime.clock.advance(240)
    second = select()
    # THEN the leaker is picked
    assert second["action"] == "remediate" and second["instance_id"] == built.instance_ids[5]


def test_a_high_resolution_metric_is_read_with_10_second_periods(runtime: LocalRuntime,
                                                                 windows: list[tuple[float, float]]) -> None:
    # GIVEN the agent collecting memory every 10 s (high resolution) and a 10 s period declared as such
    built, select = fleet(runtime, FleetSpec(memory_sample_seconds=10),
                          period_seconds=10, resolution_seconds=1, breaching_datapoints=5, evaluation_datapoints=6)
    # WHEN selection runs
    out = select()
    # THEN the leaker is picked from six 10 s datapoints that ended at least a minute ago
    assert out["action"] == "remediate" and out["instance_id"] == built.instance_ids[5]
    [(start, end)] = windows
    assert end - start == 60 and end <= runtime.clock.now() - 60
