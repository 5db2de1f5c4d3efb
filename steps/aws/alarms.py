"""CloudWatch alarms: which are in ALARM, the tags that say which group an alarm speaks for, one alarm now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call

GROUP_TAG = "nightshift:group"


def in_alarm(names: list[str]) -> list[str]:
    """Which of these alarms are in ALARM now (metric and composite alarms)."""
    if not names:
        return []
    firing: list[str] = []
    paginator = client("cloudwatch").get_paginator("describe_alarms")
    for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
        with aws_call("DescribeAlarms"):
            # Each request may answer in pages (NextToken): the paginator follows them.
            for page in paginator.paginate(AlarmNames=names[start:start + 100], StateValue="ALARM",
                                           AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                firing += [a["AlarmName"] for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])]
    return sorted(firing)


def tags(alarm_arn: str) -> dict[str, str]:
    with aws_call(f"ListTagsForResource {alarm_arn}"):
        response = client("cloudwatch").list_tags_for_resource(ResourceARN=alarm_arn)
    return {t["Key"]: t["Value"] for t in response.get("Tags", [])}


def agreed_dimensions(sets: list[dict[str, str]]) -> dict[str, str]:
    """The dimensions every query of an alarm agrees on: a name two queries give different values (a metric-math
    alarm such as MAX(m1, m2) over two instances) is dropped, so such an alarm names neither instance: it says one
    of them is bad, not which."""
    merged: dict[str, str] = {}
    disputed: set[str] = set()
    for dimensions in sets:
        for name, value in dimensions.items():
            if merged.setdefault(name, value) != value:
                disputed.add(name)
    return {name: value for name, value in merged.items() if name not in disputed}


@dataclass(frozen=True)
class AlarmNow:
    """An alarm as DescribeAlarms shows it now."""
    name: str
    state: str
    reason: str
    updated_at: datetime | None
    namespace: str
    metric: str
    dimensions: dict[str, str]
    composite: bool


def _dimensions_of(alarm: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(namespace, metric name, dimensions) of a metric alarm, or of its metric-math queries' metrics."""
    if alarm.get("MetricName"):
        return (alarm.get("Namespace", ""), alarm["MetricName"],
                {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])})
    namespace = metric = ""
    sets: list[dict[str, str]] = []
    for query in alarm.get("Metrics", []):
        stat_metric = (query.get("MetricStat") or {}).get("Metric") or {}
        sets.append({d["Name"]: d["Value"] for d in stat_metric.get("Dimensions", [])})
        namespace = namespace or stat_metric.get("Namespace", "")
        metric = metric or stat_metric.get("MetricName", "")
    return namespace, metric, agreed_dimensions(sets)


def now(name: str) -> AlarmNow | None:
    """The alarm's state now (a metric or composite alarm), or None when no alarm has this name (deleted)."""
    with aws_call(f"DescribeAlarms {name}"):
        page = client("cloudwatch").describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for alarm in page.get("MetricAlarms", []):
        namespace, metric, dimensions = _dimensions_of(alarm)
        return AlarmNow(name, alarm["StateValue"], alarm.get("StateReason", ""), alarm.get("StateUpdatedTimestamp"),
                        namespace, metric, dimensions, composite=False)
    for alarm in page.get("CompositeAlarms", []):
        return AlarmNow(name, alarm["StateValue"], alarm.get("StateReason", ""), alarm.get("StateUpdatedTimestamp"),
                        "", "", {}, composite=True)
    return None
