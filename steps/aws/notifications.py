"""Tell people and machines: an SNS message (human text + structured detail) and an EventBridge event."""

from __future__ import annotations

import json
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call

SOURCE = "nightshift"
DETAIL_TYPE = "Nightshift Remediation State Change"


def publish(topic_arn: str, subject: str, text: str, detail: dict[str, Any]) -> None:
    with aws_call(f"Publish to {topic_arn}"):
        client("sns").publish(TopicArn=topic_arn, Subject=subject[:100],
                              Message=f"{text}\n\n{json.dumps(detail, indent=2, sort_keys=True, default=str)}")


def put_event(bus: str, detail: dict[str, Any]) -> None:
    with aws_call(f"PutEvents to {bus}"):
        response = client("events").put_events(Entries=[{
            "Source": SOURCE, "DetailType": DETAIL_TYPE, "EventBusName": bus,
            "Detail": json.dumps(detail, default=str)}])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused the event: {response['Entries']}")
