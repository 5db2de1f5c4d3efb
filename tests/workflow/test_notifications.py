"""SNS messages and EventBridge events for the moments people must know about, and silence otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec

pytestmark = pytest.mark.workflow


def listen(h: Any) -> tuple[str, str]:
    """An SQS queue on the SNS topic, and one behind an EventBridge rule for Nightshift's events."""
    sqs = h.rt.client("sqs")
    topic_q = sqs.create_queue(QueueName="topic-listener")["QueueUrl"]
    event_q = sqs.create_queue(QueueName="event-listener")["QueueUrl"]
    arn = lambda url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]  # noqa: E731
    h.rt.client("sns").subscribe(TopicArn=h.rt.topic_arn, Protocol="sqs", Endpoint=arn(topic_q),
                                 Attributes={"RawMessageDelivery": "true"})
    events = h.rt.client("events")
    events.put_rule(Name="nightshift", EventPattern=json.dumps({"source": ["nightshift"]}))
    events.put_targets(Rule="nightshift", Targets=[{"Id": "q", "Arn": arn(event_q)}])
    return topic_q, event_q


def drain(h: Any, url: str) -> list[str]:
    messages = h.rt.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in messages]


def test_a_remediation_announces_its_start_and_its_success(harness: Any) -> None:
    h = harness()
    topic_q, event_q = listen(h)
    assert h.run()["status"] == "SUCCEEDED"
    texts = drain(h, topic_q)
    assert len(texts) == 2
    assert texts[0].startswith(f"{h.leaker} is leaving service in web")
    assert texts[1].startswith(f"{h.leaker} in web was rebooted and is healthy again")
    details = [json.loads(body)["detail"] for body in drain(h, event_q)]
    assert [d["status"] for d in details] == ["started", "remediated"]
    assert all(d["instance_id"] == h.leaker and d["group"] == "web" for d in details)


def test_failure_and_storm_breaker_are_announced_but_nothing_to_do_is_not(harness: Any) -> None:
    spec = FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=60)})
    h = harness(spec, blockers={"instance_cooldown_seconds": 0, "storm": {"max_remediations": 1}})
    topic_q, _ = listen(h)
    h.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "no", times=1)
    assert h.run()["status"] == "FAILED"
    h.rt.clock.advance(600)
    h.run()  # the first failure requested no reboot, so this one reboots
    h.rt.clock.advance(600)
    h.run()  # and this one trips the breaker
    texts = drain(h, topic_q)
    assert any("FAILED (AwsCallFailed); it was put back in service" in t for t in texts)
    assert any(t.startswith("STORM BREAKER: web is paused") for t in texts)


def test_a_broken_topic_never_fails_the_remediation(harness: Any) -> None:
    h = harness()
    h.rt.inject("sns", "Publish", "AuthorizationError", "topic policy denies", times=None)
    result = h.run()
    assert result["status"] == "SUCCEEDED"
    assert len(h.sim.reboots(h.leaker)) == 1


def test_a_broken_topic_does_not_silence_the_event_bus(harness: Any) -> None:
    """SNS refuses every Publish: the EventBridge event of each announcement still goes out (each channel is
    tried whatever the other does); before, a failed Publish skipped PutEvents."""
    h = harness()
    _, event_q = listen(h)
    h.rt.inject("sns", "Publish", "AuthorizationError", "topic policy denies", times=None)
    assert h.run()["status"] == "SUCCEEDED"
    statuses = [json.loads(body)["detail"]["status"] for body in drain(h, event_q)]
    assert "started" in statuses and "remediated" in statuses, statuses
