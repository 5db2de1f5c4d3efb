"""GetMetricData over metrics the simulator computes on demand instead of storing datapoints.

moto stores every datapoint and scans all of them per query per period, and nothing feeds it the
CloudWatch agent's metrics anyway. Here a metric is a function of time sampled at the agent's collection
interval, so a query costs O(periods x samples per period) and a quiet instance (a constant) costs
O(periods). Period alignment follows the GetMetricData documentation: StartTime is rounded down to the
minute, or to the period when the period is shorter than a minute.

Timing, as CloudWatch documents it (docs/aws-behaviour.md, "Metric timing"):
- Storage resolution. A metric is standard resolution (one-minute granularity) or high resolution
  (one-second granularity, published with StorageResolution 1). The CloudWatch agent publishes high
  resolution when its metrics_collection_interval is below 60 s.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/publishingMetrics.html#high-resolution-metrics
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html
- A period below 60 s on a standard-resolution metric is not an error: CloudWatch "does not receive data
  for the attempts that do not correspond to a one-minute data resolution" (PutMetricAlarm, Period), and
  a regular-resolution period "can be as short as one minute" (MetricStat, Period). So such a query gets
  the minute's datapoint in the sub-minute period that starts on the minute, and nothing in the others.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html
- Ingestion delay. A sample is readable only ``ingestion_delay_seconds`` after the agent collected it.
  AWS documents no number for this (only that alarms see "the datapoints that are immediately
  available" and that later samples can change a period's value); the delay is our assumption, a knob.
  https://repost.aws/knowledge-center/cloudwatch-trigger-metric
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
STANDARD_RESOLUTION = 60  # StorageResolution 60: one-minute granularity (PutMetricData's default)
HIGH_RESOLUTION = 1  # StorageResolution 1: one-second granularity


def agent_storage_resolution(collection_interval: int) -> int:
    """The StorageResolution the CloudWatch agent publishes with: below 60 s its metrics are high resolution
    ("If you set this value below 60 seconds, each metric is collected as a high-resolution metric").
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html
    """
    return HIGH_RESOLUTION if collection_interval < 60 else STANDARD_RESOLUTION


@dataclass(frozen=True)
class Series:
    """A metric sampled every ``sample_seconds`` in [``since``, now]; ``value_at`` None means a gap.

    A sample taken at t is readable from t + ``ingestion_delay_seconds`` on (our assumption: AWS gives
    no number). The storage resolution follows from the sampling interval, as the agent does it.
    """

    sample_seconds: int
    since: float
    value_at: Callable[[float], float | None]
    # Set when the series never changes and never has gaps: aggregates need no sampling at all.
    constant: float | None = None
    ingestion_delay_seconds: float = 0.0

    @property
    def resolution(self) -> int:
        return agent_storage_resolution(self.sample_seconds)


def epoch(value: Any) -> float:
    """Seconds since the epoch for what boto3 accepts as a timestamp (naive datetimes are UTC, as botocore)."""
    parsed: datetime = parse_to_aware_datetime(value)  # botocore ships no type hints
    return parsed.timestamp()


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


def stored_span(series: Series, bucket: float, period: int) -> tuple[float, int] | None:
    """The stored data a period of the query returns: (start, length), or None when it gets no datapoint.

    A standard-resolution metric is stored one datapoint a minute, timestamped on the minute; a period
    shorter than a minute returns that datapoint in the period that starts on the minute and nothing in
    the others (PutMetricAlarm, Period: "does not receive data for the attempts that do not correspond to
    a one-minute data resolution"). https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    """
    if period >= STANDARD_RESOLUTION or series.resolution == HIGH_RESOLUTION:
        return bucket, period
    if bucket % STANDARD_RESOLUTION:
        return None
    return bucket, STANDARD_RESOLUTION


def sample_bucket(series: Series, bucket: float, period: int, now: float) -> tuple[list[float], int]:
    """The values sampled in [bucket, bucket + period) and readable at ``now`` (taken at least the ingestion
    delay ago); also how many sample instants fell in it."""
    step = series.sample_seconds
    low = max(bucket, series.since)
    # A sample taken exactly at the readable horizon exists.
    high = min(bucket + period, math.nextafter(now - series.ingestion_delay_seconds, math.inf))
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
            span = stored_span(series, bucket, period)
            if span is None:
                continue
            sampled, count = sample_bucket(series, span[0], span[1], now)
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
