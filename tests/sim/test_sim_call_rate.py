"""AWS calls on the virtual clock: sliding-window peaks, calls per minute, and the documented limits."""

from __future__ import annotations

import boto3
import pytest

from nightshift.sim import FleetSimulator, FleetSpec
from nightshift.sim.api_limits import LIMITS, SHARED_BUCKETS, UNDOCUMENTED, ApiLimit, limit_for, shared_buckets_for
from nightshift.sim.call_rate import CallTimeline, bucket_replay, peak_in_window, per_minute, rate_rows, rate_table
from tests.harness import T0, World


def documented(operation: str) -> ApiLimit:
    limit = limit_for(operation)
    assert limit is not None, operation
    return limit


def timeline_of(operation: str, *calls: tuple[float, int]) -> CallTimeline:
    timeline = CallTimeline()
    for at, count in calls:
        timeline.record(operation, at, count)
    return timeline


def test_a_one_second_peak_slides_across_clock_seconds() -> None:
    # GIVEN 3 calls at 0.6 s and 3 at 1.2 s: 3 in each clock second, 6 within 0.6 s of each other
    timeline = timeline_of("elbv2.DescribeTargetHealth", (0.6, 3), (1.2, 3))
    # THEN the peak over one second is 6 (aligned one-second bins would say 3)
    assert timeline.peak("elbv2.DescribeTargetHealth", 1.0) == 6


def test_a_window_is_half_open() -> None:
    # GIVEN calls exactly one second apart, and calls just under one second apart
    apart = [(10.0, 2), (11.0, 2)]
    close = [(10.0, 2), (10.999, 2)]
    # THEN a call at start + 1 s is not in the window that starts at start
    assert peak_in_window(apart, 1.0) == 2
    assert peak_in_window(close, 1.0) == 4


def test_the_ten_second_and_minute_peaks_slide_too() -> None:
    # GIVEN 3 calls at 0 s, 4 at 9.5 s and 5 at 10 s
    points = [(0.0, 3), (9.5, 4), (10.0, 5)]
    # THEN the busiest 10 s is [9.5, 19.5): 9 calls (aligned 10 s bins would say 7, then 5)
    assert peak_in_window(points, 10.0) == 9
    # AND 3 calls at 30 s and 3 at 80 s are 6 in one sliding minute but 3 and 3 in clock minutes
    spread = [(30.0, 3), (80.0, 3)]
    assert peak_in_window(spread, 60.0) == 6
    assert per_minute(spread, origin=0.0) == {0: 3, 1: 3}
    with pytest.raises(ValueError, match="window"):
        peak_in_window(spread, 0.0)


def test_calls_per_minute_count_from_the_origin() -> None:
    # GIVEN calls at 59.9 s, 60 s and 185 s after an origin of 1000 s
    timeline = timeline_of("ec2.RebootInstances", (1059.9, 1), (1060.0, 2), (1185.0, 4))
    # THEN minute 0 holds the first, minute 1 the next two, minute 3 the last (minute 2 had none)
    assert timeline.per_minute("ec2.RebootInstances", origin=1000.0) == {0: 1, 1: 2, 3: 4}
    # AND by default the first call is the origin; since/until select [since, until)
    assert timeline.per_minute("ec2.RebootInstances") == {0: 3, 2: 4}
    assert timeline.calls("ec2.RebootInstances", since=1060.0, until=1185.0) == 2


def test_a_token_bucket_admits_its_capacity_then_its_refill() -> None:
    # GIVEN ELB's non-mutating bucket: 40 tokens, 10 a second
    # THEN 40 calls at once empty it, and a 41st is throttled
    assert bucket_replay([(0.0, 40)], rate=10, capacity=40) == (0, 0)
    assert bucket_replay([(0.0, 41)], rate=10, capacity=40) == (0, 1)
    # AND one second later 10 tokens are back, not 11
    assert bucket_replay([(0.0, 40), (1.0, 10)], rate=10, capacity=40) == (0, 0)
    assert bucket_replay([(0.0, 40), (1.0, 11)], rate=10, capacity=40) == (0, 1)
    # AND the bucket never holds more than its capacity, however long it rested
    assert bucket_replay([(0.0, 1), (100.0, 41)], rate=10, capacity=40) == (0, 1)


def test_percent_of_limit_takes_the_window_nearest_its_allowance() -> None:
    # GIVEN 25 DescribeTargetHealth at one instant (ELB: bucket 40, refill 10: 50 in 1 s, 140 in 10 s)
    burst = rate_rows(timeline_of("elbv2.DescribeTargetHealth", (T0, 25)))[0]
    # THEN the burst is half of what a full bucket admits in one second
    assert (burst.peak_per_second, burst.documented_rate, burst.burst) == (25, 10, 40)
    assert (burst.percent_of_limit, burst.window_seconds, burst.throttled) == (50.0, 1.0, 0)
    # GIVEN 6 calls every second for a minute instead
    steady = rate_rows(timeline_of("elbv2.DescribeTargetHealth", *[(T0 + s, 6) for s in range(60)]))[0]
    # THEN the sustained minute binds: 360 calls of the 40 + 10 x 60 = 640 a full bucket admits
    assert (steady.peak_per_second, steady.peak_per_10_seconds, steady.peak_per_minute) == (6, 60, 360)
    assert (steady.percent_of_limit, steady.window_seconds) == (56.25, 60.0)


def test_a_flat_tps_limit_has_no_burst() -> None:
    # GIVEN 30 ListMetrics at one instant (CloudWatch: 25 TPS, no bucket documented)
    row = rate_rows(timeline_of("cloudwatch.ListMetrics", (T0, 30)))[0]
    # THEN 120 % of the limit, and 5 calls a 25-token model bucket would refuse
    assert (row.documented_rate, row.burst, row.percent_of_limit, row.throttled) == (25, None, 120.0, 5)


def test_an_undocumented_api_says_so_and_invents_nothing() -> None:
    row = rate_rows(timeline_of("ssm.SendCommand", (T0, 3)))[0]
    assert (row.calls, row.peak_per_second, row.documented_rate, row.percent_of_limit) == (3, 3, None, None)
    assert "No request rate is documented" in row.note
    assert limit_for("ssm.SendCommand") is None
    assert "| ssm.SendCommand | 3 | 3 | 3 | 3 | not documented | - | - |" in rate_table([row])


def test_elb_calls_also_draw_from_the_account_bucket() -> None:
    # GIVEN 8 DescribeTargetHealth and 4 RegisterTargets at one instant, 3 DeregisterTargets 0.5 s later
    timeline = timeline_of("elbv2.DescribeTargetHealth", (T0, 8))
    timeline.record("elbv2.RegisterTargets", T0, 4)
    timeline.record("elbv2.DeregisterTargets", T0 + 0.5, 3)
    rows = {row.operation: row for row in rate_rows(timeline)}
    # THEN the account-level bucket (40, 10 a second) sees all 15, the registration bucket 7
    account = rows["elbv2.* (account-level bucket)"]
    assert (account.calls, account.peak_per_second, account.documented_rate, account.burst) == (15, 15, 10, 40)
    assert account.percent_of_limit == 30.0  # 15 of the 50 a full bucket admits in a second
    registration = rows["elbv2.(De)RegisterTargets (registration category)"]
    assert (registration.calls, registration.percent_of_limit) == (7, 29.17)  # 7 of 20 + 4
    assert [b.name for b in shared_buckets_for("elbv2.RegisterTargets")] == [b.name for b in SHARED_BUCKETS]


def test_the_limits_table_is_consistent() -> None:
    operations = [limit.operation for limit in LIMITS]
    assert len(operations) == len(set(operations))
    assert not set(operations) & set(UNDOCUMENTED)
    assert all(limit.rate_per_second > 0 and limit.source.startswith("https://") for limit in LIMITS)
    assert all(limit.burst is None or limit.burst >= limit.rate_per_second for limit in LIMITS)
    # the numbers the README relies on
    assert (documented("elbv2.DescribeTargetHealth").rate_per_second, documented("ec2.RebootInstances").burst,
            documented("cloudwatch.GetMetricData").rate_per_second,
            documented("stepfunctions.StartExecution").burst) == (10, 50, 50, 1300)


def test_the_simulator_records_each_call_on_the_virtual_clock(world: World) -> None:
    # GIVEN two DescribeTargetHealth at T0, one at T0 + 0.5 s and one at T0 + 61 s
    world.health(world.https)
    world.health(world.http)
    world.advance(0.5)
    world.health(world.https)
    world.advance(60.5)
    world.health(world.https)
    # WHEN the timeline is read
    timeline = world.sim.call_timeline()
    # THEN each call sits at the clock's instant
    assert timeline.points("elbv2.DescribeTargetHealth") == [(T0, 2), (T0 + 0.5, 1), (T0 + 61, 1)]
    assert timeline.peak("elbv2.DescribeTargetHealth", 1.0) == 3
    assert timeline.per_minute("elbv2.DescribeTargetHealth", origin=T0) == {0: 3, 1: 1}
    # AND the copy is a snapshot: later calls do not change it
    world.health(world.https)
    assert timeline.calls("elbv2.DescribeTargetHealth") == 4
    assert world.sim.call_timeline().calls("elbv2.DescribeTargetHealth") == 5


def test_a_call_about_two_fleets_is_one_call_on_the_timeline(world: World) -> None:
    # GIVEN a second fleet on the same interceptor
    api = FleetSimulator(FleetSpec(name="api", size=3, leaking={}), world.clock.now)
    api_fleet = api.build()
    api.install(world.interceptor)
    # WHEN one RebootInstances names an instance of each fleet
    boto3.client("ec2").reboot_instances(InstanceIds=[world.instance(0), api_fleet.instance_ids[0]])
    # THEN each fleet counts it, but AWS (and the shared timeline) sees one call
    assert (world.sim.api_calls()["ec2.RebootInstances"], api.api_calls()["ec2.RebootInstances"]) == (1, 1)
    assert world.sim.call_timeline().calls("ec2.RebootInstances") == 1
    assert api.call_timeline().points("ec2.RebootInstances") == [(T0, 1)]
