"""Calls to APIs that answer in pages read every page (issue 15: boto3 paginators, not one call).

moto answers DescribeAlarms and GetExecutionHistory in one page whatever their size, so these tests stub
the AWS answers with botocore's Stubber: page one carries a NextToken, page two the rest; each test also
checks the second request sends that token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from nightshift import operations
from steps.aws import alarms, autoscaling, clients, ec2

ARN = "arn:aws:states:us-east-1:123456789012:execution:remediate:x"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:remediate"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


_FAKES: dict[str, Any] = {}  # the clients the steps' ports get, per service, for one test


@pytest.fixture(autouse=True)
def _stubbed_clients() -> Iterator[None]:
    _FAKES.clear()
    with clients.bound(clients.Aws(_FAKES.__getitem__)):
        yield


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def events(first: int, count: int) -> list[dict[str, Any]]:
    return [{"timestamp": NOW, "type": "PassStateEntered", "id": first + n} for n in range(count)]


def test_follow_reads_every_history_event_past_the_first_thousand() -> None:
    sfn, stub = stubbed("stepfunctions")
    stub.add_response("describe_execution", {"executionArn": ARN, "stateMachineArn": MACHINE, "status": "SUCCEEDED",
                                             "startDate": NOW}, {"executionArn": ARN})
    stub.add_response("get_execution_history", {"events": events(1, 1000), "nextToken": "page-2"},
                      {"executionArn": ARN, "maxResults": 1000})
    stub.add_response("get_execution_history", {"events": events(1001, 1)},
                      {"executionArn": ARN, "maxResults": 1000, "nextToken": "page-2"})
    (description, fresh), = list(operations.follow(sfn, ARN, poll_seconds=0, timeout=60))
    assert description["status"] == "SUCCEEDED"
    assert [e["id"] for e in fresh] == list(range(1, 1002))
    stub.assert_no_pending_responses()


def test_status_report_lists_executions_past_the_first_page() -> None:
    sfn, stub = stubbed("stepfunctions")
    listed = [{"executionArn": f"{ARN}{n}", "stateMachineArn": MACHINE, "name": f"x{n}", "status": "RUNNING",
               "startDate": NOW} for n in range(2)]
    stub.add_response("list_executions", {"executions": listed[:1], "nextToken": "page-2"},
                      {"stateMachineArn": MACHINE, "statusFilter": "RUNNING"})
    stub.add_response("list_executions", {"executions": listed[1:]},
                      {"stateMachineArn": MACHINE, "statusFilter": "RUNNING", "nextToken": "page-2"})
    assert [e["name"] for e in operations._executions(sfn, MACHINE, "RUNNING")] == ["x0", "x1"]
    stub.assert_no_pending_responses()


def test_in_alarm_reads_every_page_of_describe_alarms() -> None:
    cloudwatch, stub = stubbed("cloudwatch")
    asked = {"AlarmNames": ["deploy", "incident"], "StateValue": "ALARM",
             "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    stub.add_response("describe_alarms", {"MetricAlarms": [{"AlarmName": "incident"}], "NextToken": "page-2"},
                      asked)
    stub.add_response("describe_alarms", {"CompositeAlarms": [{"AlarmName": "deploy"}]},
                      {**asked, "NextToken": "page-2"})
    _FAKES["cloudwatch"] = cloudwatch
    assert alarms.in_alarm(["deploy", "incident"]) == ["deploy", "incident"]
    stub.assert_no_pending_responses()


def test_a_running_instance_refresh_on_the_second_page_makes_the_group_busy() -> None:
    autoscaling_client, stub = stubbed("autoscaling")
    stub.add_response("describe_scaling_activities", {"Activities": []},
                      {"AutoScalingGroupName": "web", "MaxRecords": 20})
    done = {"InstanceRefreshId": "r-old", "Status": "Successful"}
    running = {"InstanceRefreshId": "r-new", "Status": "InProgress"}
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": [done], "NextToken": "page-2"},
                      {"AutoScalingGroupName": "web"})
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": [running]},
                      {"AutoScalingGroupName": "web", "NextToken": "page-2"})
    _FAKES["autoscaling"] = autoscaling_client
    assert autoscaling.activity_in_progress("web") == ["instance refresh r-new (InProgress)"]
    stub.assert_no_pending_responses()


def test_instance_tags_read_every_page() -> None:
    ec2_client, stub = stubbed("ec2")
    asked = {"Filters": [{"Name": "resource-id", "Values": ["i-1"]}]}
    tag = {"ResourceId": "i-1", "ResourceType": "instance"}
    stub.add_response("describe_tags", {"Tags": [{**tag, "Key": "a", "Value": "1"}], "NextToken": "page-2"}, asked)
    stub.add_response("describe_tags", {"Tags": [{**tag, "Key": "nightshift:exclude", "Value": "yes"}]},
                      {**asked, "NextToken": "page-2"})
    _FAKES["ec2"] = ec2_client
    assert ec2.instance_tags("i-1") == {"a": "1", "nightshift:exclude": "yes"}
    stub.assert_no_pending_responses()
