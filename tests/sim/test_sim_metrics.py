"""The CloudWatch agent metrics the simulator publishes, read through GetMetricData."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import T0, MakeWorld, World, metric_query

MEMORY = "mem_used_percent"
CONNECTIONS = "netstat_tcp_established"


def values(points: list[tuple[float, float]]) -> list[float]:
    return [value for _, value in points]


def test_the_leaking_instance_reads_85_percent_until_a_real_reboot_resets_it(world: World) -> None:
    # GIVEN the default fleet, where instance 5 leaks to 85 %
    leaker = world.instance(5)
    assert world.sim.leaking_instance_ids() == [leaker]
    # WHEN the last five minutes (and now) are read, one datapoint a minute
    history = world.metric(leaker, MEMORY, 300, 60)
    others = [values(world.metric(world.instance(i), MEMORY, 300, 60)) for i in (0, 1, 2)]
    # THEN it reads 85 every minute, and the others sit at their steady 30-55 %; the sample taken now
    # is not readable yet (the 60 s ingestion delay)
    assert history == [(T0 - 300 + 60 * k, 85.0) for k in range(5)]
    assert all(len(v) == 5 and len(set(v)) == 1 and 30 <= v[0] <= 55 for v in others)
    # WHEN it reboots (down from +5 s to +65 s) and ten minutes pass
    world.ec2.reboot_instances(InstanceIds=[leaker])
    world.advance(600)
    after = world.metric(leaker, MEMORY, 660, 60)
    # THEN the minute it was down has no datapoint, and after the reboot it reads its steady 40 %
    # (up to the sample taken a minute ago: the last one is still being ingested)
    assert T0 + 60 not in [t for t, _ in after]
    assert [v for t, v in after if t >= T0 + 120] == [40.0] * 8


def test_a_leak_a_reboot_does_not_cure_climbs_back(make_world: MakeWorld) -> None:
    # GIVEN a leaking instance whose leak returns over 10 minutes after each boot
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=600)}))
    leaker = world.instance(5)
    world.ec2.reboot_instances(InstanceIds=[leaker])  # up again at +65 s
    # WHEN 20 minutes pass (and the ingestion delay, so the sample at +20 min is readable)
    world.advance(1200 + world.sim.spec.metric_ingestion_delay_seconds)
    points = dict(world.metric(leaker, MEMORY, 1200, 60))
    # THEN memory climbs linearly from 40 % at boot back to 85 % ten minutes later, and stays there
    assert points[T0 + 120] == pytest.approx(40 + 45 * 55 / 600)
    assert points[T0 + 360] == pytest.approx(40 + 45 * 295 / 600)
    assert points[T0 + 720] == 85.0
    assert points[T0 + 1200] == 85.0


def test_a_leak_can_be_part_way_through_its_climb_when_the_fleet_is_built(make_world: MakeWorld) -> None:
    # GIVEN a leak that climbs from 40 % to 85 % over 10 minutes, 4 minutes into that climb when the fleet is built
    spec = InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=600, leak_elapsed_at_build=240)
    world = make_world(FleetSpec(leaking={5: spec}))
    leaker = world.instance(5)
    # WHEN the last 10 minutes are read, and again 10 minutes later
    before = dict(world.metric(leaker, MEMORY, 600, 60))
    world.advance(600 + world.sim.spec.metric_ingestion_delay_seconds)
    after = dict(world.metric(leaker, MEMORY, 600, 60))
    # THEN it read its base level before the climb began (T0 - 240), and climbs from there, not from 85 %
    assert before[T0 - 300] == 40.0
    assert before[T0 - 180] == pytest.approx(40 + 45 * 60 / 600)
    assert before[T0 - 60] == pytest.approx(40 + 45 * 180 / 600)
    # AND it reaches 85 % 6 minutes after build and stays there
    assert after[T0 + 300] == pytest.approx(40 + 45 * 540 / 600)
    assert after[T0 + 360] == 85.0 and after[T0 + 600] == 85.0
    # AND a reboot starts the climb again from the base level
    world.ec2.reboot_instances(InstanceIds=[leaker])  # down from +5 s, up 60 s later
    up = world.clock.now() + 65
    assert world.sim.memory_percent(leaker, at=up + 300) == pytest.approx(40 + 45 * 300 / 600)


def test_a_leak_part_way_through_its_climb_needs_the_climb_it_is_part_of() -> None:
    with pytest.raises(ValueError, match="leak_elapsed_at_build needs leak_returns_after_seconds"):
        InstanceSpec(leak_to_percent=85.0, leak_elapsed_at_build=60)
    with pytest.raises(ValueError, match="leak_elapsed_at_build must be a finite number >= 0"):
        InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=600, leak_elapsed_at_build=-1)


def test_in_flight_connections_decay_after_deregistration(make_world: MakeWorld) -> None:
    # GIVEN an instance with 20 connections whose in-flight requests finish over 60 s
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, connections=20,
                                                          inflight_seconds=60)}))
    target = world.instance(5)
    in_service = world.ask(target, "nightshift:connections")
    # WHEN it is deregistered from both target groups
    world.deregister(target)
    deregistered_at = world.clock.now()
    world.advance(30)
    halfway = world.ask(target, "nightshift:connections")
    world.advance(40)
    finished = world.ask(target, "nightshift:connections")
    world.advance(world.sim.spec.metric_ingestion_delay_seconds)  # the samples so far become readable
    series = world.metric(target, CONNECTIONS, 180, 10)
    # THEN the load balancer's connections fall linearly to 0 by 60 s (Run Command counts them, 10 per group)
    assert in_service == 20
    assert halfway == 10  # 10 x (1 - 31/60) = 4.83 per group, counted as whole sockets still open: 5 + 5
    assert finished == 0
    assert world.sim.inflight_end(target) == deregistered_at + 60
    # AND the agent's host-wide netstat count follows them on top of 20 connections that never end
    # (2 SSM Agent + 1 CloudWatch agent + 1 SSH + 4 database pool + 6 loopback sockets on each of 443 and
    # 8080): it never reaches 0, which is why it cannot end a drain
    by_time = dict(series)
    assert by_time[T0] == 40.0  # before the deregistration at T0 + 1
    assert by_time[T0 + 10] == 38.0  # 20 + 2 x ceil(10 x (1 - 9/60))
    assert by_time[T0 + 40] == 28.0  # 20 + 2 x ceil(10 x (1 - 39/60))
    assert by_time[T0 + 60] == 22.0
    assert by_time[T0 + 70] == 20.0
    assert world.sim.host_connections(target) == 20


def test_connections_that_never_finish_are_cut_when_the_delay_ends(make_world: MakeWorld) -> None:
    # GIVEN in-flight requests that never finish, and a 120 s delay
    world = make_world(FleetSpec(deregistration_delay=120,
                                 leaking={5: InstanceSpec(leak_to_percent=85.0, inflight_seconds=None)}))
    target = world.instance(5)
    world.deregister(target)
    # WHEN the drain runs its course
    world.advance(118)
    during = world.ask(target, "nightshift:connections")  # measured at 119 s
    world.advance(1)
    # THEN they stay open the whole delay and the load balancer closes them at its end
    assert during == 20
    assert world.ask(target, "nightshift:connections") == 0
    assert world.sim.inflight_end(target) is None


def test_no_datapoints_while_down_and_none_from_the_future(world: World) -> None:
    # GIVEN an instance that reboots now (down from +5 s to +65 s)
    target = world.instance(0)
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(160)
    # WHEN its connections are read for a window that reaches into the future
    end = datetime.fromtimestamp(world.clock.now() + 3600, tz=UTC)
    result = world.cloudwatch.get_metric_data(
        MetricDataQueries=[metric_query("c", target, CONNECTIONS, 10, "SampleCount",
                                        world.sim.agent_dimensions(target))],
        StartTime=datetime.fromtimestamp(T0, tz=UTC), EndTime=end, ScanBy="TimestampAscending",
    )["MetricDataResults"][0]
    stamps = [ts.timestamp() for ts in result["Timestamps"]]
    # THEN periods while the OS was down are missing, and nothing is later than the ingestion delay ago
    assert stamps == [T0, T0 + 70, T0 + 80, T0 + 90, T0 + 100]
    assert result["Values"] == [1.0] * 5


def test_statistics_periods_and_scan_order(world: World) -> None:
    # GIVEN a healthy instance with constant connections, observed for 10 minutes
    target = world.instance(1)
    count = world.sim.host_connections(target)  # netstat counts the whole host
    assert count is not None
    world.advance(600 + world.sim.spec.metric_ingestion_delay_seconds)
    # WHEN five-minute periods are read with several statistics, newest first (AWS's default order)
    end = datetime.fromtimestamp(T0 + 600, tz=UTC)
    queries = [metric_query(f"q{i}", target, CONNECTIONS, 300, stat, world.sim.agent_dimensions(target))
               for i, stat in enumerate(("Sum", "SampleCount", "Maximum", "p99"))]
    results = world.cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(minutes=10),
                                               EndTime=end)["MetricDataResults"]
    # THEN each period aggregates its 30 ten-second datapoints
    assert [ts.timestamp() for ts in results[0]["Timestamps"]] == [T0 + 300, T0]
    assert results[0]["Values"] == [30.0 * count] * 2
    assert results[1]["Values"] == [30.0, 30.0]
    assert results[2]["Values"] == [float(count)] * 2
    assert results[3]["Values"] == [float(count)] * 2
    assert {r["StatusCode"] for r in results} == {"Complete"}


def test_foreign_metrics_have_no_data(world: World) -> None:
    # GIVEN one query for the agent's memory (its exact dimensions) and one for a metric nobody publishes
    end = datetime.fromtimestamp(T0, tz=UTC)
    leaker = world.instance(5)
    queries = [metric_query("mem", leaker, MEMORY, 60, "Average", world.sim.agent_dimensions(leaker)),
               metric_query("other", leaker, "disk_used_percent", 60)]
    # WHEN both are read in one call
    results = world.cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(minutes=3),
                                               EndTime=end)["MetricDataResults"]
    # THEN the first matches the instance's memory, the second is empty but complete
    assert results[0]["Values"] == [85.0] * 3
    assert (results[1]["Id"], results[1]["Values"], results[1]["StatusCode"]) == ("other", [], "Complete")


def test_batches_without_simulated_metrics_pass_through_to_moto(world: World) -> None:
    # GIVEN a custom metric stored in moto
    world.cloudwatch.put_metric_data(Namespace="Custom", MetricData=[
        {"MetricName": "queue_depth", "Value": 7.0, "Timestamp": datetime.fromtimestamp(T0 - 30, tz=UTC)}])
    # WHEN it is read with GetMetricData
    end = datetime.fromtimestamp(T0, tz=UTC)
    result = world.cloudwatch.get_metric_data(MetricDataQueries=[{"Id": "q", "MetricStat": {
        "Metric": {"Namespace": "Custom", "MetricName": "queue_depth"}, "Period": 60, "Stat": "Sum"}}],
        StartTime=end - timedelta(minutes=5), EndTime=end)["MetricDataResults"][0]
    # THEN moto answered with what it stored
    assert result["Values"] == [7.0]


def test_more_than_500_queries_are_rejected(world: World) -> None:
    # GIVEN 501 memory queries
    queries = [metric_query(f"m{i}", world.instance(i % 12), MEMORY, 60) for i in range(501)]
    end = datetime.fromtimestamp(T0, tz=UTC)
    # WHEN they are sent in one call
    with pytest.raises(ClientError) as raised:
        world.cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(minutes=5),
                                         EndTime=end)
    # THEN CloudWatch's limit applies
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "500" in raised.value.response["Error"]["Message"]


def test_a_whole_fleet_in_one_call_of_500_queries(make_world: MakeWorld) -> None:
    # GIVEN 500 instances, one of them leaking
    world = make_world(FleetSpec(size=500, leaking={123: InstanceSpec(leak_to_percent=90.0)}))
    world.advance(300)
    end = datetime.fromtimestamp(world.clock.now(), tz=UTC)
    queries = [metric_query(f"m{i}", iid, MEMORY, 60, "Average", world.sim.agent_dimensions(iid))
               for i, iid in enumerate(world.fleet.instance_ids)]
    # WHEN all are read in one call, naive datetimes (UTC) as boto3 allows
    results = world.cloudwatch.get_metric_data(
        MetricDataQueries=queries, StartTime=(end - timedelta(minutes=5)).replace(tzinfo=None),
        EndTime=end.replace(tzinfo=None))["MetricDataResults"]
    # THEN each instance gets its own five datapoints and only the leaker is above 55 %
    assert [len(r["Values"]) for r in results] == [5] * 500
    assert [r["Id"] for r in results if max(r["Values"]) > 55] == ["m123"]
