"""CloudWatch metrics for many instances at once: discover each instance's series, then read them in
GetMetricData calls of up to 500 queries.

CloudWatch treats each unique combination of dimensions as a separate metric and a query must name the exact
set. The CloudWatch agent appends whatever its configuration says (the wizard: InstanceId, ImageId,
InstanceType, AutoScalingGroupName), so the set differs per instance (AMI, type, Auto Scaling group) and can
change (a stop, modify, start changes InstanceType). Nothing here assumes a set: ListMetrics says which exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call
from steps.core.exceptions import AwsCallFailed, AwsUnavailable, MetricListingTooLarge

MAX_QUERIES_PER_CALL = 500  # GetMetricData's documented limit
INSTANCE_ID = "InstanceId"
RECENTLY_ACTIVE = "PT3H"  # ListMetrics: only metrics with data in the past three hours (its only valid value)
LIST_PAGE_SIZE = 500  # ListMetrics: up to 500 results a call
# Up to this many instances are looked up one ListMetrics each (by InstanceId value): at most 20 calls, a
# fixed cost whatever else the account publishes. Listing the whole metric costs ceil(series / 500) calls
# and only wins once the group is larger than the account's series of that metric / 500; above 20 instances
# per-instance calls would grow with the group (and its time with them), so the group lists instead.
SMALL_GROUP = 20
# The most ListMetrics pages one discovery reads (40 x 500 = 20,000 series), and the time it may take (the
# select function's timeout is 30 s; this leaves the rest for GetMetricData and the audit): past either, it
# fails with MetricListingTooLarge rather than judge a group from a truncated listing.
LIST_PAGE_CAP = 40
LIST_TIME_BUDGET_SECONDS = 12.0
_clock: Callable[[], float] = time.monotonic  # swapped by tests

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


@dataclass
class _Budget:
    """The page cap and time budget shared by every ListMetrics of one discovery."""

    namespace: str
    metric_name: str
    started: float
    pages: int = 0
    series: int = 0

    def check(self) -> None:
        elapsed = _clock() - self.started
        if self.pages < LIST_PAGE_CAP and elapsed < LIST_TIME_BUDGET_SECONDS:
            return
        limit = (f"the cap of {LIST_PAGE_CAP} pages" if self.pages >= LIST_PAGE_CAP
                 else f"the time budget of {LIST_TIME_BUDGET_SECONDS:g} s")
        raise MetricListingTooLarge(
            f"ListMetrics {self.namespace}/{self.metric_name}: stopped at {limit} after {self.pages} pages "
            f"({self.series} series, {elapsed:.1f} s) with more to list; nothing was selected (a truncated "
            "listing would silently leave instances out). This account and Region publish more series of this "
            "metric than one selection lists. Fix: publish this fleet's metric under a namespace of its own "
            "(the CloudWatch agent's \"namespace\", and metric.namespace), or split the group into groups of "
            f"at most {SMALL_GROUP} instances (looked up one call each, without listing the metric)")


def _list_metrics(request: dict[str, Any], budget: _Budget) -> Iterable[dict[str, Any]]:
    """Every metric ListMetrics returns for ``request``, following NextToken (up to 500 a page), within the
    budget's page cap and time: past either, MetricListingTooLarge (never a silent truncation)."""
    request = dict(request)
    while True:
        budget.check()
        with aws_call("ListMetrics"):
            response = client("cloudwatch").list_metrics(**request)
        budget.pages += 1
        metrics = response.get("Metrics", [])
        budget.series += len(metrics)
        yield from metrics
        token = response.get("NextToken")
        if not token:
            return
        request["NextToken"] = token


def _dimension_set(metric: dict[str, Any]) -> DimensionSet:
    return tuple(sorted((str(d["Name"]), str(d["Value"])) for d in metric.get("Dimensions") or []))


def discover_dimension_sets(namespace: str, metric_name: str,
                            instance_ids: Sequence[str]) -> dict[str, list[DimensionSet]]:
    """instance id -> every dimension set its ``metric_name`` was published with in the past three hours.

    Up to SMALL_GROUP instances: ListMetrics filtered by each one's InstanceId value (one call each). More:
    one listing of the metric filtered by the InstanceId dimension name, paged 500 at a time, kept for the
    instances asked about; it costs ceil(series of that metric in the account and Region / 500) calls. Both
    stop at LIST_PAGE_CAP pages or LIST_TIME_BUDGET_SECONDS with MetricListingTooLarge.
    Instances with nothing found map to [].
    """
    wanted = set(instance_ids)
    found: dict[str, list[DimensionSet]] = {i: [] for i in instance_ids}
    if not wanted:
        return found
    base = {"Namespace": namespace, "MetricName": metric_name, "RecentlyActive": RECENTLY_ACTIVE}
    budget = _Budget(namespace, metric_name, _clock())
    if len(wanted) <= SMALL_GROUP:
        requests = [{**base, "Dimensions": [{"Name": INSTANCE_ID, "Value": i}]} for i in sorted(wanted)]
    else:
        requests = [{**base, "Dimensions": [{"Name": INSTANCE_ID}]}]
    for request in requests:
        for metric in _list_metrics(request, budget):
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
    """Which of an instance's discovered sets to read, after the optional ``wanted`` filter: all of them.

    The InstanceId-only set (the agent's aggregation_dimensions [["InstanceId"]]) rolls up every series of
    the instance, but ListMetrics keeps listing it for hours after its last datapoint (RecentlyActive=PT3H),
    e.g. once aggregation_dimensions is removed from the agent's config; so the other sets are read too, in
    the same GetMetricData calls, and ``merge`` prefers the rollup only where it has datapoints.
    """
    return [s for s in sets if set(wanted) <= set(s)]


def merge(stat: str, instance_id: str, parts: Sequence[tuple[DimensionSet, Series]]) -> Series:
    """One instance's series read under several sets, as one: the InstanceId-only rollup's datapoints where
    it has them, and at every other timestamp the other sets combined (``combine``)."""
    exact = ((INSTANCE_ID, instance_id),)
    rollup = [points for dims, points in parts if dims == exact]
    others = [points for dims, points in parts if dims != exact]
    if not rollup:
        return others[0] if len(others) == 1 else combine(stat, others)
    have = {at for at, _ in rollup[0]}
    return sorted(rollup[0] + [(at, v) for at, v in combine(stat, others) if at not in have])


def combine(stat: str, parts: Sequence[Series]) -> Series:
    """Several series of one instance as one: per timestamp the maximum for Maximum, minimum for Minimum,
    the sum for Sum, SampleCount and the trimmed count and sum, the mean otherwise (Average, percentiles)."""
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
        elif stat in ("Sum", "SampleCount") or stat.startswith(("tc", "ts", "TC(", "TS(")):
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


def _check_status(result: dict[str, Any], q: MetricQuery, more: bool) -> None:
    """A MetricDataResult's StatusCode: Complete, or PartialData with a NextToken to follow, are data;
    InternalError is retried (AwsUnavailable); Forbidden, AwsCallFailed naming the metric.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataResult.html
    """
    status = result.get("StatusCode", "Complete")
    if status == "Complete" or (status == "PartialData" and more):
        return
    messages = "; ".join(f"{m.get('Code', '')}: {m.get('Value', '')}" for m in result.get("Messages") or [])
    what = (f"GetMetricData {q.namespace}/{q.name} ({q.stat}) of {q.instance_id}: StatusCode {status}"
            + (f" ({messages})" if messages else ""))
    if status == "Forbidden":
        raise AwsCallFailed(f"{what}: the select function may not read this metric; grant it "
                            "cloudwatch:GetMetricData on it (or fix metric.namespace / metric.name)")
    # InternalError, or PartialData with no NextToken to continue with: retried, never read as no data
    raise AwsUnavailable(f"{what}: CloudWatch did not return the datapoints; retried")


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
    parts: dict[int, list[tuple[DimensionSet, Series]]] = {i: [] for i in range(len(queries))}
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
                _check_status(result, by_id[result["Id"]][0], bool(response.get("NextToken")))
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                collected[result["Id"]].extend((ts.timestamp(), float(v)) for ts, v in pairs)
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        for qid, points in collected.items():
            q, dims = by_id[qid]
            parts[index_of[id(q)]].append((dims, sorted(points)))
    series: dict[str, Series] = {q.instance_id: [] for q in queries}
    read: dict[str, list[DimensionSet]] = {q.instance_id: [] for q in queries}
    for i, q in enumerate(queries):
        series[q.instance_id] = merge(q.stat, q.instance_id, parts[i])
    for q, dims in reads:
        read[q.instance_id].append(dims)
    return series, read
