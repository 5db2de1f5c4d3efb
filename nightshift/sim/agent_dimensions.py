"""The dimension sets the CloudWatch agent publishes each metric with, exact matching, and ListMetrics.

CloudWatch treats each unique combination of dimensions as a separate metric: a query must name exactly
the dimensions the metric was published with, or it finds nothing
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#dimension-combinations).
The agent's configuration wizard appends ``InstanceId``, ``ImageId``, ``InstanceType`` and
``AutoScalingGroupName`` (the last only on an Auto Scaling group member) to every metric; with
``aggregation_dimensions: [["InstanceId"]]`` the agent also publishes each metric rolled up to InstanceId
alone (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).

ListMetrics (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_ListMetrics.html): up to
500 results per call with a NextToken for more; Namespace and MetricName match exactly; a dimension filter
with a name only matches every metric that has that dimension (whatever its other dimensions), with a value
only that value; ``RecentlyActive`` accepts only ``PT3H`` (data published in the past three hours); metrics
with no data in the past two weeks are not listed. The simulator's metrics are listed from their first
datapoint: AWS says to allow up to 15 minutes for a new metric to appear, and 0 is within that.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.world import FleetWorld

SERVICE = "cloudwatch"
NAMESPACE = "CWAgent"
AGENT_METRICS = ("mem_used_percent", "netstat_tcp_established")
PAGE_SIZE = 500  # ListMetrics: "Up to 500 results are returned for any one call"
MAX_DIMENSION_FILTERS = 10  # ListMetrics Dimensions: "Maximum number of 10 items"
RECENTLY_ACTIVE = "PT3H"  # "This is the only valid value for this parameter"
_TOKEN_PREFIX = "nightshift-sim:"

DimensionSet = tuple[tuple[str, str], ...]  # (Name, Value) pairs sorted by Name


def install(sim: FleetWorld, interceptor: Interceptor) -> None:
    interceptor.answer(SERVICE, "ListMetrics", partial(list_metrics, sim))


def dimension_sets(sim: FleetWorld, instance: SimulatedInstance) -> list[DimensionSet]:
    """Every dimension set the agent on ``instance`` publishes each of its metrics with (the full set first)."""
    full = {"InstanceId": instance.instance_id}
    if sim.spec.agent_dimensions == "wizard":
        full.update({"ImageId": instance.image_id, "InstanceType": instance.instance_type})
        if sim.auto_scaling is not None:
            full["AutoScalingGroupName"] = sim.auto_scaling.name
    sets = [tuple(sorted(full.items()))]
    if sim.spec.aggregate_by_instance_id and len(full) > 1:
        sets.append((("InstanceId", instance.instance_id),))
    return sets


def published(sim: FleetWorld, instance: SimulatedInstance, dimensions: list[dict[str, Any]]) -> bool:
    """Whether a query's dimensions are exactly one of the sets ``instance``'s agent publishes."""
    asked = tuple(sorted((str(d.get("Name")), str(d.get("Value"))) for d in dimensions))
    return asked in dimension_sets(sim, instance)


def _matches(dimensions: DimensionSet, filters: list[dict[str, Any]]) -> bool:
    have = dict(dimensions)
    for f in filters:
        name = f.get("Name")
        if name not in have or ("Value" in f and f["Value"] != have[name]):
            return False
    return True


def _validate(params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    filters = list(params.get("Dimensions") or [])
    if len(filters) > MAX_DIMENSION_FILTERS:
        raise AwsError("InvalidParameterValue", f"The collection Dimensions must not contain more than "
                                                f"{MAX_DIMENSION_FILTERS} items.")
    active = params.get("RecentlyActive")
    if active is not None and active != RECENTLY_ACTIVE:
        raise AwsError("InvalidParameterValue", f"The value {active} for parameter RecentlyActive is not valid.")
    token = params.get("NextToken")
    offset = 0
    if token is not None:
        if not str(token).startswith(_TOKEN_PREFIX) or not str(token)[len(_TOKEN_PREFIX):].isdigit():
            raise AwsError("InvalidParameterValue", "The value for parameter NextToken is not valid.")
        offset = int(str(token)[len(_TOKEN_PREFIX):])
    return filters, offset


def list_metrics(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    """ListMetrics over the agent metrics of every simulated instance; other namespaces pass through to moto."""
    names = [params["MetricName"]] if params.get("MetricName") else list(AGENT_METRICS)
    if params.get("Namespace") != NAMESPACE or not set(names) <= set(AGENT_METRICS):
        return None  # not ours: moto answers (a ListMetrics without a namespace included)
    try:
        filters, offset = _validate(params)
    except AwsError:
        sim.tally("cloudwatch.ListMetrics")
        raise
    with sim.lock:
        now = sim.now()
        found: list[tuple[FleetWorld, str, DimensionSet]] = []
        for name in names:
            for peer in sim.peers:
                for instance in peer.instances:
                    if instance.power.first_boot > now:
                        continue  # launched later: nothing published yet
                    found.extend((peer, name, dims) for dims in dimension_sets(peer, instance)
                                 if _matches(dims, filters))
    page = found[offset:offset + PAGE_SIZE]
    sim.tally("cloudwatch.ListMetrics", [owner for owner, _, _ in page])
    response: dict[str, Any] = {"Metrics": [
        {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}
        for _, name, dims in page]}
    if offset + PAGE_SIZE < len(found):
        response["NextToken"] = f"{_TOKEN_PREFIX}{offset + PAGE_SIZE}"
    return response
