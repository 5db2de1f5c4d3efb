"""CloudWatch metrics for many instances at once: discover each instance's series, then read them in
GetMetricData calls of up to 500 queries.

CloudWatch treats each unique combination of dimensions as a separate metric and a query must name the exact
set. The CloudWatch agent appends whatever its configuration says (the wizard: InstanceId, ImageId,
InstanceType, AutoScalingGroupName), so the set differs per instance (AMI, type, Auto Scaling group) and can
change (a stop, modify, start changes InstanceType). Nothing here assumes a set: ListMetrics says which exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call

MAX_QUERIES_PER_CALL = 500  # GetMetricData's documented limit
INSTANCE_ID = "InstanceId"
RECENTLY_ACTIVE = "PT3H"  # ListMetrics: only metrics with data in the past three hours (its only valid value)

DimensionSet = tuple[tuple[str, str], ...]  # (Name, Value) pairs sorted by Name, InstanceId included


@dataclass(frozen=True)
class MetricQuery:
    instance_id: str
    namespace: str
    name: str
    stat: str
    period_seconds: int
    # A filter on the discovered sets: only sets carrying every one of these (Name, Value) pairs are read.
    dimensions: tuple[tuple[str, str], ...] = ()


Series = list[tuple[float, float]]  # (epoch seconds, value), oldest first


def _list_metrics(request: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every metric ListMetrics returns for ``request``, following NextToken (up to 500 a page)."""
    request = dict(request)
    while True:
        with aws_call("ListMetrics"):
            response = client("cloudwatch").list_metrics(**request)
        yield from response.get("Metrics", [])
        token = response.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


def _dimension_set(metric: dict[str, Any]) -> DimensionSet:
    return tuple(sorted((str(d["Name"]), str(d["Value"])) for d in metric.get("Dimensions") or []))


def discover_dimension_sets(namespace: str, metric_name: str,
                            instance_ids: Sequence[str]) -> dict[str, list[DimensionSet]]:
    """instance id -> every dimension set its ``metric_name`` was published with in the past three hours.

    One instance: ListMetrics filtered by its InstanceId value (one call). Several: one listing of the metric
    filtered by the InstanceId dimension name, paged 500 at a time, kept for the instances asked about; it
    costs ceil(series of that metric in the account and Region / 500) calls, whatever the group's size.
    Instances with nothing found map to [].
    """
    wanted = set(instance_ids)
    found: dict[str, list[DimensionSet]] = {i: [] for i in instance_ids}
    if not wanted:
        return found
    dimension: dict[str, str] = {"Name": INSTANCE_ID}
    if len(wanted) == 1:
        dimension["Value"] = next(iter(wanted))
    request = {"Namespace": namespace, "MetricName": metric_name, "Dimensions": [dimension],
               "RecentlyActive": RECENTLY_ACTIVE}
    for metric in _list_metrics(request):
        dims = _dimension_set(metric)
        instance_id = dict(dims).get(INSTANCE_ID)
        if instance_id in wanted and dims not in found[instance_id]:
            found[instance_id].append(dims)
    for sets in found.values():
        sets.sort()
    return found


def dimension_names_seen(namespace: str, metric_name: str, limit: int = 10,
                         max_pages: int = 2) -> list[tuple[str, ...]]:
    """The distinct dimension-name sets ``metric_name`` exists with (past two weeks), for a diagnosis when
    the group's instances have none: at most ``limit`` sets from at most ``max_pages`` ListMetrics pages."""
    seen: list[tuple[str, ...]] = []
    pages = 0
    request: dict[str, Any] = {"Namespace": namespace, "MetricName": metric_name}
    while pages < max_pages and len(seen) < limit:
        with aws_call("ListMetrics"):
            response = client("cloudwatch").list_metrics(**request)
        pages += 1
        for metric in response.get("Metrics", []):
            names = tuple(sorted(str(d["Name"]) for d in metric.get("Dimensions") or []))
            if names not in seen and len(seen) < limit:
                seen.append(names)
        if not response.get("NextToken"):
            break
        request["NextToken"] = response["NextToken"]
    return sorted(seen)


def series_to_read(sets: Sequence[DimensionSet], instance_id: str,
                   wanted: tuple[tuple[str, str], ...] = ()) -> list[DimensionSet]:
    """Which of an instance's discovered sets to read, after the optional ``wanted`` filter.

    The InstanceId-only set, when it exists (the agent's aggregation_dimensions [["InstanceId"]]), already
    rolls up every series of the instance: read it alone. Otherwise read them all and combine them
    (several sets: the instance's type or AMI changed within the window, or the agent's config did).
    """
    kept = [s for s in sets if set(wanted) <= set(s)]
    exact = ((INSTANCE_ID, instance_id),)
    return [exact] if exact in kept else kept


def combine(stat: str, parts: Sequence[Series]) -> Series:
    """Several series of one instance as one: per timestamp the maximum for Maximum, minimum for Minimum,
    the sum for Sum and SampleCount, the mean otherwise (Average, percentiles)."""
    by_time: dict[float, list[float]] = {}
    for part in parts:
        for at, value in part:
            by_time.setdefault(at, []).append(value)
    out: Series = []
    for at in sorted(by_time):
        values = by_time[at]
        if stat == "Maximum":
            out.append((at, max(values)))
        elif stat == "Minimum":
            out.append((at, min(values)))
        elif stat in ("Sum", "SampleCount"):
            out.append((at, sum(values)))
        else:
            out.append((at, sum(values) / len(values)))
    return out


def _query(query_id: str, q: MetricQuery, dims: DimensionSet) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": q.namespace, "MetricName": q.name,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
            "Period": q.period_seconds,
            "Stat": q.stat,
        },
        "ReturnData": True,
    }


def instance_series(queries: Sequence[MetricQuery], start: datetime, end: datetime) -> dict[str, Series]:
    """instance id -> its datapoints in [start, end). Missing data stays missing (an empty series).

    Each instance's series are discovered first (discover_dimension_sets, one discovery per metric), so
    whatever dimensions the agent appends, the exact sets are read; ``MetricQuery.dimensions`` only filters.
    """
    return discover_and_read(queries, start, end)[0]


def discover_and_read(queries: Sequence[MetricQuery], start: datetime,
                      end: datetime) -> tuple[dict[str, Series], dict[str, list[DimensionSet]]]:
    """instance_series, and the sets read for each instance (after the filter; [] when none was found)."""
    by_metric: dict[tuple[str, str], list[str]] = {}
    for q in queries:
        by_metric.setdefault((q.namespace, q.name), []).append(q.instance_id)
    sets_of: dict[tuple[str, str, str], list[DimensionSet]] = {}
    for (namespace, name), ids in by_metric.items():
        discovered = discover_dimension_sets(namespace, name, ids)
        for instance_id, sets in discovered.items():
            sets_of[(namespace, name, instance_id)] = sets
    reads = [(q, dims) for q in queries
             for dims in series_to_read(sets_of[(q.namespace, q.name, q.instance_id)], q.instance_id, q.dimensions)]
    parts: dict[int, list[Series]] = {i: [] for i in range(len(queries))}
    index_of = {id(q): i for i, q in enumerate(queries)}
    for offset in range(0, len(reads), MAX_QUERIES_PER_CALL):
        batch = reads[offset:offset + MAX_QUERIES_PER_CALL]
        by_id = {f"m{offset + i}": read for i, read in enumerate(batch)}
        request: dict[str, Any] = {
            "MetricDataQueries": [_query(qid, q, dims) for qid, (q, dims) in by_id.items()],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        collected: dict[str, Series] = {qid: [] for qid in by_id}
        while True:
            with aws_call("GetMetricData"):
                response = client("cloudwatch").get_metric_data(**request)
            for result in response.get("MetricDataResults", []):
                if result["Id"] not in collected:
                    continue
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                collected[result["Id"]].extend((ts.timestamp(), float(v)) for ts, v in pairs)
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        for qid, points in collected.items():
            parts[index_of[id(by_id[qid][0])]].append(sorted(points))
    series: dict[str, Series] = {q.instance_id: [] for q in queries}
    read: dict[str, list[DimensionSet]] = {q.instance_id: [] for q in queries}
    for i, q in enumerate(queries):
        found = parts[i]
        series[q.instance_id] = found[0] if len(found) == 1 else combine(q.stat, found)
    for q, dims in reads:
        read[q.instance_id].append(dims)
    return series, read
