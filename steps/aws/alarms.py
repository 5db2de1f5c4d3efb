"""CloudWatch alarms: the tags that say which group an alarm speaks for."""

from __future__ import annotations

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
