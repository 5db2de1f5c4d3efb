"""Tell people and machines: an SNS message (human text + structured detail) and an EventBridge event."""

from __future__ import annotations

import json
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call
from steps.core import container
from steps.core.observability import logger

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


def announce(text: str, detail: dict[str, Any]) -> list[str]:
    """Publish to NIGHTSHIFT_TOPIC_ARN (SNS) and NIGHTSHIFT_EVENT_BUS (EventBridge), each when set; returns
    where it went. Each channel is tried whatever the other does (a page must not depend on the topic's
    policy). Delivered on at least one channel counts as announced: the other's failure is logged, and a
    caller's once-a-day claim stands (raising would make it announce again on the channel that worked).
    Raises the first error only when no configured channel took it."""
    sent: list[str] = []
    failed: list[Exception] = []
    settings = container.settings()
    topic, bus = settings.topic_arn, settings.event_bus
    for name, target in (("sns", topic), ("eventbridge", bus)):
        if not target:
            continue
        try:
            if name == "sns":
                publish(target, f"Nightshift: {text}", text, detail)
            else:
                put_event(target, detail)
            sent.append(name)
        except Exception as exc:  # the other channel is still tried
            failed.append(exc)
            logger.warning("notification channel failed", extra={"channel": name, "error": repr(exc)})
    logger.info(text, extra={"notification": detail, "sent": sent})
    if failed and not sent:
        raise failed[0]
    return sent
