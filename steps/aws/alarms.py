"""CloudWatch alarms: the tags that say which group an alarm speaks for."""

from __future__ import annotations

from steps.aws.clients import client
from steps.aws.errors import aws_call

GROUP_TAG = "nightshift:group"


def tags(alarm_arn: str) -> dict[str, str]:
    with aws_call(f"ListTagsForResource {alarm_arn}"):
        response = client("cloudwatch").list_tags_for_resource(ResourceARN=alarm_arn)
    return {t["Key"]: t["Value"] for t in response.get("Tags", [])}
