"""The bench's shim: CloudWatch ``GetMetricStatistics`` answered from the fleet simulator's memory model.

The simulator answers ``GetMetricData`` (what Nightshift calls) but not ``GetMetricStatistics`` (what the
seed calls, one instance at a time). This answerer, registered on the runtime's interceptor by the bench
only, computes the same CloudWatch agent series from the simulator's public ``memory_percent(instance,
at)``, sampled every ``memory_sample_seconds`` like the agent, so both approaches see the same numbers.

Like CloudWatch, it matches a metric on its exact dimension set: the agent publishes ``mem_used_percent``
with InstanceId, ImageId and InstanceType, so a query that omits ImageId/InstanceType finds no datapoints
(which is why the seed calls DescribeInstances first). Metrics the simulator does not own pass to moto.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError
from nightshift.sim.metric_data import Series, bucket_starts, epoch, sample_bucket

NAMESPACE = "CWAgent"
METRIC = "mem_used_percent"
AGENT_DIMENSIONS = frozenset({"InstanceId", "ImageId", "InstanceType"})
MAX_DATAPOINTS = 1440  # GetMetricStatistics' documented limit per call
_STATISTICS = {"Average", "Maximum", "Minimum", "Sum", "SampleCount"}


def install(rt: Any, sim: Any) -> None:
    """Answer GetMetricStatistics for ``sim``'s instances on ``rt``'s interceptor (bench only)."""
    rt.interceptor.answer("cloudwatch", "GetMetricStatistics", partial(get_metric_statistics, sim))


def _aggregate(statistic: str, values: list[float], count: int) -> float:
    if statistic == "Average":
        return sum(values) / len(values)
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "Sum":
        return sum(values) * (count / len(values))  # a constant series is sampled once per bucket
    return float(count)


def get_metric_statistics(sim: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    dimensions = {d["Name"]: d["Value"] for d in params.get("Dimensions") or []}
    instance_id = dimensions.get("InstanceId")
    if params.get("Namespace") != NAMESPACE or params.get("MetricName") != METRIC or instance_id is None:
        return None
    if sim.instance(instance_id) is None:
        return None
    statistics = list(params.get("Statistics") or [])
    if not statistics or not set(statistics) <= _STATISTICS:
        raise AwsError("InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics")
    period = int(params["Period"])
    start, end = epoch(params["StartTime"]), epoch(params["EndTime"])
    buckets = bucket_starts(start, end, period)
    if len(buckets) > MAX_DATAPOINTS:
        raise AwsError("InvalidParameterCombination", "You have requested up to 1,440 datapoints, which exceeds "
                                                      "the limit of 1,440.")
    datapoints: list[dict[str, Any]] = []
    if set(dimensions) == AGENT_DIMENSIONS:
        series = Series(sim.spec.memory_sample_seconds, sim.history_start,
                        lambda at: sim.memory_percent(instance_id, at))
        current = sim.now()
        for bucket in buckets:
            values, count = sample_bucket(series, bucket, period, current)
            if not values:
                continue
            point: dict[str, Any] = {"Timestamp": datetime.fromtimestamp(bucket, tz=UTC), "Unit": "Percent"}
            for statistic in statistics:
                point[statistic] = _aggregate(statistic, values, count)
            datapoints.append(point)
    return {"Label": METRIC, "Datapoints": datapoints}
