"""CloudWatch metrics for many instances at once: one GetMetricData call per 500 instances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call

MAX_QUERIES_PER_CALL = 500  # GetMetricData's documented limit


@dataclass(frozen=True)
class MetricQuery:
    instance_id: str
    namespace: str
    name: str
    stat: str
    period_seconds: int
    dimensions: tuple[tuple[str, str], ...] = ()


Series = list[tuple[float, float]]  # (epoch seconds, value), oldest first


def _query(query_id: str, q: MetricQuery) -> dict[str, Any]:
    dimensions = [{"Name": "InstanceId", "Value": q.instance_id}]
    dimensions += [{"Name": k, "Value": v} for k, v in q.dimensions]
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": q.namespace, "MetricName": q.name, "Dimensions": dimensions},
            "Period": q.period_seconds,
            "Stat": q.stat,
        },
        "ReturnData": True,
    }


def instance_series(queries: Sequence[MetricQuery], start: datetime, end: datetime) -> dict[str, Series]:
    """instance id -> its datapoints in [start, end). Missing data stays missing (an empty series)."""
    series: dict[str, Series] = {q.instance_id: [] for q in queries}
    for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
        batch = queries[offset:offset + MAX_QUERIES_PER_CALL]
        by_id = {f"m{offset + i}": q for i, q in enumerate(batch)}
        request: dict[str, Any] = {
            "MetricDataQueries": [_query(qid, q) for qid, q in by_id.items()],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            with aws_call("GetMetricData"):
                response = client("cloudwatch").get_metric_data(**request)
            for result in response.get("MetricDataResults", []):
                q = by_id.get(result["Id"])
                if q is None:
                    continue
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                series[q.instance_id].extend((ts.timestamp(), float(v)) for ts, v in pairs)
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
    for points in series.values():
        points.sort()
    return series
