"""The CloudWatch agent's dimension sets in the simulator: exact matching in GetMetricData, and ListMetrics.

CloudWatch treats each unique combination of dimensions as a separate metric (a query must name the exact
set); ListMetrics returns up to 500 metrics a call with a NextToken for the rest. See docs/aws-behaviour.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import AutoScalingSpec, FleetSpec
from steps.aws import clients, cloudwatch
from tests.harness import T0, MakeWorld, World, metric_query

MEMORY = "mem_used_percent"


@pytest.fixture
def steps_use_world() -> Iterator[Any]:
    """Point the steps' CloudWatch client at a world's (the port functions under test use it)."""
    with ExitStack() as stack:
        def use(world: World) -> None:
            stack.enter_context(clients.bound(clients.Aws({"cloudwatch": world.cloudwatch}.__getitem__)))
        yield use


def read(world: World, instance_id: str, dimensions: list[dict[str, str]]) -> list[float]:
    end = datetime.fromtimestamp(T0, tz=UTC)
    result = world.cloudwatch.get_metric_data(
        MetricDataQueries=[metric_query("q", instance_id, MEMORY, 60, "Average", dimensions)],
        StartTime=end - timedelta(minutes=3), EndTime=end)["MetricDataResults"][0]
    return list(result["Values"])


def described(world: World, instance_id: str) -> dict[str, Any]:
    return world.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def test_the_default_fleet_publishes_the_wizard_dimensions_of_a_mixed_fleet(world: World) -> None:
    # GIVEN the default fleet (12 instances, three instance types, two AMIs)
    sets = [world.sim.agent_dimensions(i) for i in world.fleet.instance_ids]
    # THEN every instance publishes InstanceId, ImageId and InstanceType, valued as DescribeInstances says
    for instance_id, dims in zip(world.fleet.instance_ids, sets, strict=True):
        values = {d["Name"]: d["Value"] for d in dims}
        ec2 = described(world, instance_id)
        assert values == {"InstanceId": instance_id, "ImageId": ec2["ImageId"], "InstanceType": ec2["InstanceType"]}
    # AND the fleet really is mixed
    assert len({d["Value"] for s in sets for d in s if d["Name"] == "InstanceType"}) == 3
    assert len({d["Value"] for s in sets for d in s if d["Name"] == "ImageId"}) == 2


def test_get_metric_data_matches_the_exact_dimension_set(world: World) -> None:
    leaker = world.instance(5)
    full = world.sim.agent_dimensions(leaker)
    # WHEN the leaker's memory is read with its exact set, with InstanceId alone, and with one extra dimension
    exact = read(world, leaker, full)
    alone = read(world, leaker, [{"Name": "InstanceId", "Value": leaker}])
    extra = read(world, leaker, [*full, {"Name": "host", "Value": "ip-10-0-0-1"}])
    retyped = [d if d["Name"] != "InstanceType" else {"Name": "InstanceType", "Value": "x1.32xlarge"} for d in full]
    wrong_type = read(world, leaker, retyped)
    # THEN only the exact set finds datapoints, as CloudWatch matches
    assert exact == [85.0] * 3
    assert alone == [] and extra == [] and wrong_type == []


def test_an_auto_scaling_member_also_publishes_its_group_name(make_world: MakeWorld) -> None:
    world = make_world(FleetSpec(size=4, leaking={}, auto_scaling=AutoScalingSpec()))
    names = {d["Name"]: d["Value"] for d in world.sim.agent_dimensions(world.instance(0))}
    assert names["AutoScalingGroupName"] == world.fleet.auto_scaling_group
    assert set(names) == {"AutoScalingGroupName", "ImageId", "InstanceId", "InstanceType"}


def test_aggregation_dimensions_add_an_instance_id_only_series(make_world: MakeWorld) -> None:
    # GIVEN the agent with aggregation_dimensions [["InstanceId"]]
    world = make_world(FleetSpec(aggregate_by_instance_id=True))
    leaker = world.instance(5)
    # THEN both the full set and InstanceId alone read the same datapoints
    assert read(world, leaker, world.sim.agent_dimensions(leaker)) == [85.0] * 3
    assert read(world, leaker, [{"Name": "InstanceId", "Value": leaker}]) == [85.0] * 3


def test_the_old_instance_id_only_agent(make_world: MakeWorld) -> None:
    world = make_world(FleetSpec(agent_dimensions="instance_id"))
    leaker = world.instance(5)
    assert world.sim.agent_dimensions(leaker) == [{"Name": "InstanceId", "Value": leaker}]
    assert read(world, leaker, [{"Name": "InstanceId", "Value": leaker}]) == [85.0] * 3


def list_all(world: World, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every metric ListMetrics returns, following NextToken; and how many calls that took."""
    metrics: list[dict[str, Any]] = []
    calls = 0
    request = dict(params)
    while True:
        response = world.cloudwatch.list_metrics(**request)
        calls += 1
        metrics += response["Metrics"]
        assert len(response["Metrics"]) <= 500
        if "NextToken" not in response:
            return metrics, calls
        request["NextToken"] = response["NextToken"]


def test_list_metrics_pages_500_at_a_time_and_filters_by_dimension(make_world: MakeWorld) -> None:
    # GIVEN 600 instances whose agent also publishes the InstanceId-only rollup: 1,200 memory series
    world = make_world(FleetSpec(size=600, leaking={}, aggregate_by_instance_id=True))
    before = world.sim.api_calls()["cloudwatch.ListMetrics"]
    # WHEN every memory series with an InstanceId dimension is listed
    metrics, calls = list_all(world, Namespace="CWAgent", MetricName=MEMORY, Dimensions=[{"Name": "InstanceId"}],
                              RecentlyActive="PT3H")
    # THEN three pages (500 + 500 + 200), each tallied by the simulator
    assert (len(metrics), calls) == (1200, 3)
    assert world.sim.api_calls()["cloudwatch.ListMetrics"] - before == 3
    assert all(m["Namespace"] == "CWAgent" and m["MetricName"] == MEMORY for m in metrics)
    # AND a name with a value matches only that instance's two series
    one = world.instance(7)
    mine, calls = list_all(world, Namespace="CWAgent", MetricName=MEMORY,
                           Dimensions=[{"Name": "InstanceId", "Value": one}])
    assert calls == 1
    assert sorted(len(m["Dimensions"]) for m in mine) == [1, 3]
    # AND a dimension nobody publishes matches nothing
    assert list_all(world, Namespace="CWAgent", MetricName=MEMORY, Dimensions=[{"Name": "host"}])[0] == []


def test_list_metrics_rejects_what_aws_rejects(world: World) -> None:
    for params, field in (({"RecentlyActive": "PT1H"}, "RecentlyActive"), ({"NextToken": "garbage"}, "NextToken")):
        with pytest.raises(ClientError) as raised:
            world.cloudwatch.list_metrics(Namespace="CWAgent", MetricName=MEMORY, **params)
        assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert field in raised.value.response["Error"]["Message"]


def test_discover_dimension_sets_finds_every_instance_s_sets(world: World, steps_use_world: Any) -> None:
    steps_use_world(world)
    ids = [*world.fleet.instance_ids, "i-0000000000000dead"]
    found = cloudwatch.discover_dimension_sets("CWAgent", MEMORY, ids)
    for instance_id in world.fleet.instance_ids:
        expected = tuple((d["Name"], d["Value"]) for d in world.sim.agent_dimensions(instance_id))
        assert found[instance_id] == [expected]
    assert found["i-0000000000000dead"] == []
    # One instance: one call filtered by its InstanceId value
    before = world.sim.api_calls()["cloudwatch.ListMetrics"]
    assert cloudwatch.discover_dimension_sets("CWAgent", MEMORY, [world.instance(3)])[world.instance(3)]
    assert world.sim.api_calls()["cloudwatch.ListMetrics"] - before == 1


def test_dimension_names_seen(world: World, steps_use_world: Any) -> None:
    steps_use_world(world)
    assert cloudwatch.dimension_names_seen("CWAgent", MEMORY) == [("ImageId", "InstanceId", "InstanceType")]
    assert cloudwatch.dimension_names_seen("CWAgent", "mem_used") == []
