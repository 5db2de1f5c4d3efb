"""Metric timing as CloudWatch documents it: storage resolution, sub-minute periods, ingestion delay.

Standard resolution (the agent at 60 s): one datapoint a minute; a period below a minute gets data only
in the period that starts on the minute (PutMetricAlarm, Period). High resolution (the agent below 60 s):
every sub-minute period has data. A sample is readable only the ingestion delay after it was collected.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from nightshift.sim.metric_data import HIGH_RESOLUTION, STANDARD_RESOLUTION, agent_storage_resolution
from tests.harness import T0, MakeWorld, World, metric_query

MEMORY = "mem_used_percent"


def read(world: World, instance_id: str, period: int, start: float, end: float,
         stat: str = "Average") -> list[tuple[float, float]]:
    result = world.cloudwatch.get_metric_data(
        MetricDataQueries=[metric_query("q", instance_id, MEMORY, period, stat,
                                        world.sim.agent_dimensions(instance_id))],
        StartTime=datetime.fromtimestamp(start, tz=UTC), EndTime=datetime.fromtimestamp(end, tz=UTC),
        ScanBy="TimestampAscending")["MetricDataResults"][0]
    assert result["StatusCode"] == "Complete"
    return [(ts.timestamp(), v) for ts, v in zip(result["Timestamps"], result["Values"], strict=True)]


def test_the_agent_publishes_high_resolution_only_below_60_seconds() -> None:
    # The agent reference: "If you set this value below 60 seconds, each metric is collected as a
    # high-resolution metric"; its default interval, 60 s, is standard resolution.
    assert [agent_storage_resolution(s) for s in (1, 10, 30, 59)] == [HIGH_RESOLUTION] * 4
    assert [agent_storage_resolution(s) for s in (60, 120, 300)] == [STANDARD_RESOLUTION] * 3
    assert FleetSpec().memory_sample_seconds == 60


def test_a_sub_minute_period_on_a_standard_metric_gets_only_the_minutes_datapoint(make_world: MakeWorld) -> None:
    # GIVEN the agent collecting memory every 90 s: standard resolution, stored one datapoint a minute
    # (a sample at 12:01:30 is the datapoint of minute 12:01)
    world = make_world(FleetSpec(memory_sample_seconds=90))
    leaker = world.instance(5)
    start, end = T0 - 360, T0 - 60  # samples at T0 - 360, - 270, - 180 and - 90
    # WHEN five minutes are read with a 10 s period, and with a 60 s period
    ten = read(world, leaker, 10, start, end, "SampleCount")
    sixty = read(world, leaker, 60, start, end, "SampleCount")
    # THEN a 10 s period has data only where it starts on a minute, and it is that minute's datapoint:
    # never a datapoint at the sample's own second (the metric has no sub-minute data), not an error
    minutes = [T0 - 360, T0 - 300, T0 - 180, T0 - 120]
    assert ten == sixty == [(t, 1.0) for t in minutes]


def test_every_10_second_period_of_a_high_resolution_metric_has_data(
        make_world: MakeWorld) -> None:
    # GIVEN the agent collecting memory every 10 s: high resolution
    world = make_world(FleetSpec(memory_sample_seconds=10))
    leaker = world.instance(5)
    # WHEN one minute is read with a 10 s period
    points = read(world, leaker, 10, T0 - 120, T0 - 60, "SampleCount")
    # THEN every 10 s period has its own datapoint
    assert points == [(T0 - 120 + 10 * k, 1.0) for k in range(6)]


def test_a_sample_is_readable_only_the_ingestion_delay_after_it_was_collected(make_world: MakeWorld) -> None:
    # GIVEN an ingestion delay of 45 s and a leaker at 85 %
    world = make_world(FleetSpec(metric_ingestion_delay_seconds=45,
                                 leaking={5: InstanceSpec(leak_to_percent=85.0)}))
    leaker = world.instance(5)
    # WHEN the minute of the sample collected at T0 is read 44 s later, and 45 s later
    world.advance(44)
    before = read(world, leaker, 60, T0, T0 + 60)
    world.advance(1)
    after = read(world, leaker, 60, T0, T0 + 60)
    # THEN it is missing before the delay and there after it
    assert before == []
    assert after == [(T0, 85.0)]


def test_a_high_resolution_minute_fills_in_as_its_samples_are_ingested(make_world: MakeWorld) -> None:
    # GIVEN samples every 10 s and a 30 s ingestion delay
    world = make_world(FleetSpec(memory_sample_seconds=10, metric_ingestion_delay_seconds=30))
    leaker = world.instance(5)
    # WHEN the minute starting at T0 is read 60 s in, and once its last sample (T0 + 50) is ingested
    world.advance(60)
    partial = read(world, leaker, 60, T0, T0 + 60, "SampleCount")
    world.advance(20)
    complete = read(world, leaker, 60, T0, T0 + 60, "SampleCount")
    # THEN the period's datapoint is partial first (samples T0..T0+30) and complete 30 s after its last sample
    assert partial == [(T0, 4.0)]
    assert complete == [(T0, 6.0)]


def test_a_negative_ingestion_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="metric_ingestion_delay_seconds"):
        FleetSpec(metric_ingestion_delay_seconds=-1)
