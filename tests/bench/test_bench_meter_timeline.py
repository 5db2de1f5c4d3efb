"""The bench meter's optional timeline: every call it counts, also at the clock's instant."""

from __future__ import annotations

from bench.meter import ApiMeter
from nightshift.sim.call_rate import CallTimeline


def test_a_meter_with_a_timeline_records_each_call_at_the_clock() -> None:
    # GIVEN a meter with a timeline and a clock standing at 100 s, then at 100.5 s
    now = [100.0]
    meter = ApiMeter(CallTimeline(), clock=lambda: now[0])
    # WHEN it records two DynamoDB calls and a Step Functions call (what its hooks do for each AWS call)
    meter._record("dynamodb", "PutItem", 0)
    now[0] = 100.5
    meter._record("dynamodb", "PutItem", 0)
    meter._record("stepfunctions", "DescribeExecution", 0)
    # THEN both the counts and the timeline hold them, the timeline at their instants
    assert meter.by_operation() == {"dynamodb.PutItem": 2, "stepfunctions.DescribeExecution": 1}
    assert meter.timeline is not None
    assert meter.timeline.points("dynamodb.PutItem") == [(100.0, 1), (100.5, 1)]
    assert meter.timeline.peak("dynamodb.PutItem", 1.0) == 2


def test_a_meter_without_a_timeline_records_counts_only() -> None:
    meter = ApiMeter()
    meter._record("dynamodb", "PutItem", 0)
    assert (meter.by_operation(), meter.timeline) == ({"dynamodb.PutItem": 1}, None)
