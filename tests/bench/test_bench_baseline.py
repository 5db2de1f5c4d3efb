"""The benchmark's baseline (the seed's Lambda) and its GetMetricStatistics shim, on a small simulated fleet.

Behaviour only: no timing is asserted here (the bench compares timings within one run).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench import metric_statistics
from bench.scenarios import Scenario, VirtualLambda, run_baseline
from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import runtime


def test_baseline_heals_the_leaking_instance_and_bills_its_sleeps() -> None:
    # GIVEN a 12-instance fleet with one instance leaking memory and a 300 s deregistration delay
    scenario = Scenario("baseline", 12, 300, 0.0)
    # WHEN the seed's Lambda runs on the virtual clock
    result = run_baseline(scenario)
    # THEN it rebooted the leaking instance, and its sleeps (300 s + 120 s) are billed as Lambda time
    assert result["status"] == "SUCCEEDED"
    assert result["selected_correctly"]
    assert result["lambda_slept_seconds"] == pytest.approx(420.0)
    assert result["calls_by_step"]["baseline:remediate"] == {
        "ec2.RebootInstances": 1, "elbv2.DeregisterTargets": 2, "elbv2.RegisterTargets": 2}
    # and it found the instance the way the seed does: per instance, one DescribeInstances + one GetMetricStatistics
    assert result["selection_calls"] == {"cloudwatch.GetMetricStatistics": 12, "ec2.DescribeInstances": 12,
                                         "elbv2.DescribeTargetHealth": 2}


def test_baseline_is_killed_at_fifteen_minutes_with_the_instance_out_of_service() -> None:
    # GIVEN the maximum deregistration delay AWS allows
    scenario = Scenario("baseline", 12, 3600, 0.0)
    # WHEN the seed's Lambda sleeps through it
    result = run_baseline(scenario)
    # THEN Lambda kills it at 900 s, after the deregistration and before the reboot
    assert result["status"] == "KILLED"
    assert result["lambda_seconds"] == pytest.approx(900.0)
    assert result["left_out_of_service"]
    assert "ec2.RebootInstances" not in result["calls_by_step"]["baseline:remediate"]


def test_virtual_lambda_refuses_to_sleep_past_the_timeout() -> None:
    # GIVEN a virtual Lambda with 10 s left
    class Clock:
        now = 0.0

        def advance(self, seconds: float) -> float:
            self.now += seconds
            return self.now

    lam = VirtualLambda(Clock(), timeout=10.0)
    # WHEN it sleeps longer than that
    with pytest.raises(Exception, match="timed out"):
        lam.sleep(60.0)
    # THEN it is billed exactly the timeout, and the clock moved by no more
    assert lam.killed
    assert lam.billed == pytest.approx(10.0, abs=0.01)


def test_shim_answers_only_the_agents_exact_dimension_set() -> None:
    with runtime() as rt:
        sim, built = rt.add_fleet(FleetSpec(size=6, leaking={2: InstanceSpec(leak_to_percent=85.0)}))
        metric_statistics.install(rt, sim)
        leaker = built.instance_ids[2]
        described = rt.client("ec2").describe_instances(InstanceIds=[leaker])["Reservations"][0]["Instances"][0]
        end = datetime.fromtimestamp(rt.clock.now(), UTC)
        start = datetime.fromtimestamp(rt.clock.now() - 300, UTC)
        cloudwatch = rt.client("cloudwatch")

        def query(dimensions: list[dict[str, str]]) -> list[dict[str, object]]:
            response = cloudwatch.get_metric_statistics(
                Namespace="CWAgent", MetricName="mem_used_percent", Dimensions=dimensions, StartTime=start,
                EndTime=end, Period=60, Statistics=["Average"])
            return list(response["Datapoints"])

        # GIVEN the dimensions the CloudWatch agent publishes with (InstanceId, ImageId, InstanceType)
        full = query([{"Name": "InstanceId", "Value": leaker}, {"Name": "ImageId", "Value": described["ImageId"]},
                      {"Name": "InstanceType", "Value": described["InstanceType"]}])
        # WHEN a query names only the instance id
        partial = query([{"Name": "InstanceId", "Value": leaker}])
        # THEN only the exact set finds the datapoints, as on CloudWatch, and they show the leak
        assert full and all(point["Average"] == pytest.approx(85.0) for point in full)
        assert partial == []
