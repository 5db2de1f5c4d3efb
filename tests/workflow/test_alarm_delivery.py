"""Every way AWS delivers an alarm (issue 16, item 4): EventBridge, SNS (one or several records) and a Lambda
alarm action; one state change through several paths starts one remediation; unknown shapes are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nightshift.runtime.runner import LocalRuntime
from steps.core.exceptions import InvalidRequest
from steps.store import audit
from steps.triggers.alarm_delivery import AlarmChange, changes
from steps.triggers.alarm_trigger import execution_name
from tests.harness import runtime
from tests.workflow.test_triggers import alarm_event, executions, fleet, invoke_alarm

pytestmark = pytest.mark.workflow

AT = "2026-11-23T03:00:00.123+0000"
ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"


def sns_message(alarm: str, instance_id: str | None, state: str = "ALARM", at: str = AT) -> dict[str, Any]:
    """The JSON an alarm's SNS action publishes (CloudWatch user guide, "Notifying users on alarm changes")."""
    message: dict[str, Any] = {
        "AlarmName": alarm, "AlarmDescription": None, "AWSAccountId": "123456789012",
        "NewStateValue": state, "NewStateReason": "Threshold Crossed: 3 datapoints [85.0, 85.0, 85.0] > 65.0",
        "StateChangeTime": at, "Region": "US East (N. Virginia)", "AlarmArn": ARN.format(name=alarm),
        "OldStateValue": "OK",
    }
    if instance_id is not None:
        message["Trigger"] = {"MetricName": "mem_used_percent", "Namespace": "CWAgent", "Statistic": "AVERAGE",
                              "Unit": None, "Dimensions": [{"value": instance_id, "name": "InstanceId"}],
                              "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold",
                              "Threshold": 65.0}
    return message


def sns_event(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{
        "EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alarms:0b8e4a7c-1111-2222-3333-444455556666",
        "Sns": {"Type": "Notification", "MessageId": f"95df01b4-ee98-5cb9-9903-4c221d41eb{i:02d}",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms", "Subject": "ALARM",
                "Message": json.dumps(m), "Timestamp": "2026-11-23T03:00:00.400Z"}}
        for i, m in enumerate(messages)]}


def lambda_action(alarm: str, instance_id: str | None, state: str = "ALARM", at: str = AT) -> dict[str, Any]:
    """What CloudWatch sends a Lambda function named as an alarm action (CloudWatch user guide, "Invoke a Lambda
    function from an alarm")."""
    configuration: dict[str, Any] = {"description": "memory"}
    if instance_id is not None:
        configuration["metrics"] = [{"id": "1234e046-06f0-a3da-9534-EXAMPLEe4c", "metricStat": {
            "metric": {"namespace": "CWAgent", "name": "mem_used_percent", "dimensions": {"InstanceId": instance_id}},
            "period": 60, "stat": "Average"}, "returnData": True}]
    else:
        configuration["alarmRule"] = "ALARM(a) OR ALARM(b)"  # a composite alarm: no metrics
    return {"source": "aws.cloudwatch", "alarmArn": ARN.format(name=alarm), "accountId": "123456789012",
            "time": at, "region": "us-east-1", "alarmData": {
                "alarmName": alarm, "state": {"value": state, "reason": "Threshold Crossed", "timestamp": at},
                "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-23T02:00:00.000+0000"},
                "configuration": configuration}}


def one(event: dict[str, Any]) -> AlarmChange:
    [change] = changes(event)
    assert isinstance(change, AlarmChange), change
    return change


@pytest.fixture
def rt() -> Iterator[LocalRuntime]:
    with runtime() as made:
        yield made


def test_the_three_shapes_of_one_state_change_name_the_same_execution() -> None:
    read = [one(alarm_event("web-memory", "i-0123456789abcdef0", at=AT)),
            one(sns_event(sns_message("web-memory", "i-0123456789abcdef0"))),
            one(lambda_action("web-memory", "i-0123456789abcdef0"))]
    assert [c.via for c in read] == ["eventbridge", "sns", "lambda"]
    assert len({execution_name(c.name, c.changed_at) for c in read}) == 1
    assert execution_name(read[0].name, read[0].changed_at).endswith("-20261123T030000123")  # the milliseconds
    assert {c.dimensions["InstanceId"] for c in read} == {"i-0123456789abcdef0"}
    assert {c.arn for c in read} == {ARN.format(name="web-memory")}


def test_a_state_change_time_in_another_offset_names_the_same_execution() -> None:
    utc = one(sns_event(sns_message("web-memory", None, at="2026-11-23T03:00:00.123+0000")))
    shifted = one(sns_event(sns_message("web-memory", None, at="2026-11-23T04:00:00.123+0100")))
    assert execution_name(utc.name, utc.changed_at) == execution_name(shifted.name, shifted.changed_at)


def test_one_state_change_delivered_by_all_three_paths_starts_one_remediation(rt: LocalRuntime) -> None:
    sim, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    outcomes = [invoke_alarm(sns_event(sns_message("nightshift-web-memory", leaker))),
                invoke_alarm(alarm_event("nightshift-web-memory", leaker, at=AT)),
                invoke_alarm(lambda_action("nightshift-web-memory", leaker))]
    assert [o["started"] for o in outcomes] == [True, False, False]
    assert [o["via"] for o in outcomes] == ["sns", "eventbridge", "lambda"]
    assert len({o["execution_arn"] for o in outcomes}) == 1 and len(executions(rt)) == 1
    assert rt.wait(outcomes[0]["execution_arn"])["status"] == "SUCCEEDED"
    assert len(sim.reboots(leaker)) == 1
    records = list(audit.for_group("web"))
    assert [r.event for r in records].count("ALARM_STARTED") == 1
    assert sorted(r.details["via"] for r in records if r.event == "ALARM_DUPLICATE") == ["eventbridge", "lambda"]


def test_an_sns_batch_starts_each_state_change_once(rt: LocalRuntime) -> None:
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    first = sns_message("nightshift-web-memory", leaker)
    outcome = invoke_alarm(sns_event(first, first, sns_message("nightshift-web-memory", leaker, state="OK",
                                                                 at="2026-11-23T03:10:00.000+0000")))
    assert outcome["started"] is True
    assert [o["started"] for o in outcome["outcomes"]] == [True, False, False]
    assert outcome["outcomes"][2] == {"started": False, "reason": "state OK"}
    assert len(executions(rt)) == 1


def test_an_ok_delivered_after_the_alarm_starts_nothing_more(rt: LocalRuntime) -> None:
    """Out of order: an alarm's OK (a later state change) arriving by one path after its ALARM by another."""
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    assert invoke_alarm(lambda_action("nightshift-web-memory", leaker))["started"] is True
    late = invoke_alarm(sns_event(sns_message("nightshift-web-memory", leaker, state="OK",
                                              at="2026-11-23T03:05:00.000+0000")))
    assert late == {"started": False, "reason": "state OK"}
    # and the ALARM itself delivered late by SNS, after its OK: still the one execution
    assert invoke_alarm(sns_event(sns_message("nightshift-web-memory", leaker)))["started"] is False
    assert len(executions(rt)) == 1


@pytest.mark.parametrize("deliver", [
    lambda name: sns_event(sns_message(name, None)),
    lambda name: lambda_action(name, None),
], ids=["sns", "lambda"])
def test_a_composite_alarm_speaks_for_its_group_through_its_tag(rt: LocalRuntime, deliver: Any) -> None:
    _, _, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    # moto has no PutCompositeAlarm: the alarm behind the ARN is a tagged metric alarm, and the delivery is the
    # composite's (no Trigger, no metrics): the trigger reads the tag by the alarm's ARN alike for both kinds.
    rt.client("cloudwatch").put_metric_alarm(
        AlarmName="web-sick", MetricName="m", Namespace="Ops", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1, ComparisonOperator="GreaterThanThreshold", Tags=[{"Key": "nightshift:group", "Value": "web"}])
    outcome = invoke_alarm(deliver("web-sick"))
    assert outcome["started"] is True and outcome["group"] == "web" and outcome["instance_id"] is None
    [started] = [r for r in audit.for_group("web") if r.event == "ALARM_STARTED"]
    assert started.details["found_by"] == "tag nightshift:group"


@pytest.mark.parametrize(("event", "says"), [
    ({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "SubscriptionConfirmation",
                                                     "Message": "You have chosen to subscribe to the topic"}}]},
     "Records[0].Sns.Message is not JSON"),
    ({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps({"Records": [{"s3": {}}]})}}]},
     "Records[0].Sns.Message is not a CloudWatch alarm notification"),
    ({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}, "Records[0] is not an SNS notification"),
    ({"Records": []}, "Records is empty"),
    ({"source": "aws.cloudwatch", "alarmArn": ARN.format(name="x"), "alarmData": {"alarmName": "x"}},
     "not a CloudWatch Lambda alarm action"),
    ({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}},
     "not a CloudWatch Alarm State Change event"),
    ({"hello": "world"}, "not a CloudWatch Alarm State Change event"),
], ids=["subscription-confirmation", "s3-over-sns", "sqs", "empty-batch", "lambda-no-state", "ec2-event", "other"])
def test_an_unknown_shape_is_refused_naming_the_three_it_expects(rt: LocalRuntime, event: dict[str, Any],
                                                                 says: str) -> None:
    _, _, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    with pytest.raises(InvalidRequest) as refused:
        invoke_alarm(event)
    assert says in str(refused.value)
    assert "Records[].Sns.Message" in str(refused.value) and "alarmData" in str(refused.value)
    assert executions(rt) == []


def test_an_alarm_that_did_not_opt_in_is_ignored_on_every_path(rt: LocalRuntime) -> None:
    """A topic people also read carries every alarm; only the opted-in prefix starts anything, and the rest is
    ignored (not refused: a refusal would land in the dead-letter queue and page)."""
    from steps.core import container

    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    with container.configured(container.settings().model_copy(update={"alarm_name_prefix": "nightshift-heal-"})):
        for event in (sns_event(sns_message("web-memory", leaker)), lambda_action("web-memory", leaker),
                      alarm_event("web-memory", leaker, at=AT)):
            assert invoke_alarm(event) == {"started": False,
                                           "reason": "alarm name does not start with nightshift-heal-"}
        assert invoke_alarm(lambda_action("nightshift-heal-web", leaker))["started"] is True
    assert len(executions(rt)) == 1


def test_one_bad_record_in_an_sns_batch_refuses_itself_not_the_alarms_beside_it(rt: LocalRuntime) -> None:
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    event = sns_event(sns_message("nightshift-web-memory", built.instance_ids[2]))
    event["Records"].insert(0, {"EventSource": "aws:sns", "Sns": {"Message": "not json"}})
    with pytest.raises(InvalidRequest, match=r"1 of 2 SNS records refused \(1 alarm\(s\) handled: 1 started\)"):
        invoke_alarm(event)  # the invocation fails (dead-letter queue, pages) after starting the good record
    assert len(executions(rt)) == 1
    with pytest.raises(InvalidRequest, match="0 started"):
        invoke_alarm(event)  # Lambda's retry of the same event: the good record is a duplicate now
    assert len(executions(rt)) == 1


def test_the_alarm_firing_again_after_ok_is_a_new_state_change_and_a_new_remediation(rt: LocalRuntime) -> None:
    _, built, group = fleet(rt, "web", leaking=True)
    rt.declare_groups([group])
    leaker = built.instance_ids[2]
    first = invoke_alarm(sns_event(sns_message("nightshift-web-memory", leaker)))
    finished = rt.wait(first["execution_arn"])
    assert finished["status"] == "SUCCEEDED", finished.get("cause")
    assert invoke_alarm(sns_event(sns_message("nightshift-web-memory", leaker, state="OK",
                                              at="2026-11-23T03:20:00.000+0000")))["started"] is False
    again = invoke_alarm(lambda_action("nightshift-web-memory", leaker, at="2026-11-23T05:00:00.000+0000"))
    assert again["started"] is True and again["execution_arn"] != first["execution_arn"]
    assert len(executions(rt)) == 2


def test_a_metric_math_alarm_over_two_instances_names_no_instance_on_any_path() -> None:
    # SNS: Trigger.Metrics, each query's MetricStat.Metric.Dimensions as [{"value", "name"}]; the re-read
    # (DescribeAlarms Metrics, [{"Name", "Value"}]) must agree: an alarm over two instances names neither.
    from steps.aws.alarms import _dimensions_of

    def query(qid: str, instance: str, key: str = "name", value: str = "value") -> dict[str, Any]:
        return {"Id": qid, "ReturnData": False, "MetricStat": {"Metric": {
            "Namespace": "CWAgent", "MetricName": "mem_used_percent",
            "Dimensions": [{key: "InstanceId", value: instance}, {key: "AutoScalingGroupName", value: "web"}]},
            "Period": 60, "Stat": "Average"}}

    message = sns_message("nightshift-web-math", None)
    message["Trigger"] = {"Metrics": [{"Id": "e1", "Expression": "MAX([m1, m2])", "ReturnData": True},
                                      query("m1", "i-0aaaaaaaaaaaaaaaa"), query("m2", "i-0bbbbbbbbbbbbbbbb")]}
    change = one(sns_event(message))
    assert change.dimensions == {"AutoScalingGroupName": "web"}
    alarm = {"Metrics": [{"Id": "e1", "Expression": "MAX([m1, m2])"},
                         query("m1", "i-0aaaaaaaaaaaaaaaa", "Name", "Value"),
                         query("m2", "i-0bbbbbbbbbbbbbbbb", "Name", "Value")]}
    assert _dimensions_of(alarm)[2] == {"AutoScalingGroupName": "web"}
    # one instance in every query (e.g. m1 / m2 of the same instance) still names it
    alarm["Metrics"][2] = query("m2", "i-0aaaaaaaaaaaaaaaa", "Name", "Value")
    assert _dimensions_of(alarm)[2]["InstanceId"] == "i-0aaaaaaaaaaaaaaaa"
