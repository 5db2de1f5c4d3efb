"""GetMetricData over metrics the simulator computes on demand instead of storing datapoints.

moto stores every datapoint and scans all of them per query per period, and nothing feeds it the
CloudWatch agent's metrics anyway. Here a metric is a function of time sampled at the agent's collection
interval, so a query costs O(periods x samples per period) and a quiet instance (a constant) costs
O(periods). Period alignment follows the GetMetricData documentation: StartTime is rounded down to the
minute, or to the period when the period is shorter than a minute.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.utils import parse_to_aware_datetime

from nightshift.runtime.interceptor import AwsError

MAX_QUERIES = 500  # GetMetricData's documented limit per call
STATS = ("Average", "Maximum", "Minimum", "Sum", "SampleCount")


@dataclass(frozen=True)
class Series:
    """A metric sampled every ``sample_seconds`` in [``since``, now]; ``value_at`` None means a gap."""

    sample_seconds: int
    since: float
    value_at: Callable[[float], float | None]
    # Set when the series never changes and never has gaps: aggregates need no sampling at all.
    constant: float | None = None


def epoch(value: Any) -> float:
    """Seconds since the epoch for what boto3 accepts as a timestamp (naive datetimes are UTC, as botocore)."""
    return parse_to_aware_datetime(value).timestamp()


def _aggregate(stat: str, values: Sequence[float]) -> float:
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Maximum":
        return max(values)
    if stat == "Minimum":
        return min(values)
    if stat == "Sum":
        return float(sum(values))
    if stat == "SampleCount":
        return float(len(values))
    return _percentile(stat, values)


def _percentile(stat: str, values: Sequence[float]) -> float:
    rank = float(stat[1:]) / 100.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank * len(ordered)) - 1)]


def _constant_aggregate(stat: str, value: float, count: int) -> float:
    if stat == "Sum":
        return value * count
    if stat == "SampleCount":
        return float(count)
    return value


def validate_stat(stat: str) -> None:
    if stat in STATS:
        return
    if stat.startswith("p"):
        try:
            if 0.0 < float(stat[1:]) <= 100.0:
                return
        except ValueError:
            pass
    raise AwsError("InvalidParameterValue", f"The value {stat} for parameter MetricDataQueries.member.Stat "
                                            "is not valid.")


def bucket_starts(start: float, end: float, period: int) -> list[float]:
    """Period starts in [start, end), start rounded down as the GetMetricData documentation says."""
    align = period if period < 60 else 60
    first = math.floor(start / align) * align
    count = max(0, math.ceil((end - first) / period))
    return [first + k * period for k in range(count)]


def sample_bucket(series: Series, bucket: float, period: int, now: float) -> tuple[list[float], int]:
    """The values sampled in [bucket, bucket + period) up to ``now``; also how many sample instants fell in it."""
    step = series.sample_seconds
    low = max(bucket, series.since)
    high = min(bucket + period, math.nextafter(now, math.inf))  # a sample taken exactly now exists
    first = math.ceil(low / step)
    last = math.ceil(high / step) - 1
    if last < first:
        return [], 0
    if series.constant is not None:
        return [series.constant], last - first + 1
    values = []
    for k in range(first, last + 1):
        value = series.value_at(k * step)
        if value is not None:
            values.append(value)
    return values, len(values)


def metric_data_result(query_id: str, label: str, series: Series | None, stat: str, period: int,
                       start: float, end: float, now: float, descending: bool) -> dict[str, Any]:
    timestamps: list[datetime] = []
    values: list[float] = []
    if series is not None:
        for bucket in bucket_starts(start, end, period):
            sampled, count = sample_bucket(series, bucket, period, now)
            if not sampled:
                continue
            if series.constant is not None:
                values.append(_constant_aggregate(stat, series.constant, count))
            else:
                values.append(_aggregate(stat, sampled))
            timestamps.append(datetime.fromtimestamp(bucket, tz=UTC))
    if descending:
        timestamps.reverse()
        values.reverse()
    return {"Id": query_id, "Label": label, "Timestamps": timestamps, "Values": values, "StatusCode": "Complete"}


def validate_request(params: dict[str, Any]) -> tuple[list[dict[str, Any]], float, float, bool]:
    """The queries, start, end and scan order of a GetMetricData call, rejected as AWS would reject them."""
    queries = list(params.get("MetricDataQueries") or [])
    if len(queries) > MAX_QUERIES:
        raise AwsError("ValidationError", f"The collection MetricDataQueries must not contain more than "
                                          f"{MAX_QUERIES} items.")
    if not queries:
        raise AwsError("ValidationError", "The parameter MetricDataQueries is required.")
    start, end = epoch(params["StartTime"]), epoch(params["EndTime"])
    if start >= end:
        raise AwsError("ValidationError", "The parameter StartTime must be less than the parameter EndTime.")
    ids = [q.get("Id") for q in queries]
    if len(set(ids)) != len(ids):
        raise AwsError("ValidationError", "The values for parameter Id in MetricDataQueries are not unique.")
    scan_by = params.get("ScanBy", "TimestampDescending")
    if scan_by not in ("TimestampDescending", "TimestampAscending"):
        raise AwsError("ValidationError", f"The value {scan_by} for parameter ScanBy is not valid.")
    return queries, start, end, scan_by == "TimestampDescending"


def instance_dimension(metric: dict[str, Any]) -> str | None:
    for dimension in metric.get("Dimensions") or []:
        if dimension.get("Name") == "InstanceId":
            return str(dimension.get("Value"))
    return None
