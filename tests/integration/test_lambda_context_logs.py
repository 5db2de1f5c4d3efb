"""Every handler's log lines carry the Lambda context (Powertools' ``Logger.inject_lambda_context``) and a
correlation id read from its event: the execution id for the state machines' Tasks, the EventBridge event id for
the alarm trigger until it has started a remediation."""

from __future__ import annotations

import json
from typing import Any

from tests import harness
from tests.harness import EXECUTION, Steps, invoke
from tests.workflow.test_triggers import alarm_event

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def lines_of(stream: Any, **where: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if all(line.get(k) == v for k, v in where.items())]


def test_a_step_log_line_carries_the_lambda_context_and_the_execution_id(steps: Steps) -> None:
    steps.validate()
    steps.execution_id = EXECUTION + "-second"  # a later Task of another execution: its own correlation id
    steps.call("acquire-group-lock", "lock")
    lines = lines_of(steps.rt.log_stream, step="acquire_group_lock")
    assert lines
    for line in lines:
        assert line["correlation_id"] == EXECUTION + "-second"
        assert line["function_name"] == "nightshift-acquire-group-lock"
        assert line["function_arn"] == ARN + "nightshift-acquire-group-lock"
        assert line["function_memory_size"] == 256
        assert line["function_request_id"]
        assert isinstance(line["cold_start"], bool)
        assert line["group"] == "web"  # the keys the step wrapper adds are still there


def test_the_alarm_trigger_logs_its_eventbridge_event_id_and_its_context() -> None:
    with harness.runtime(state_machines=False) as rt:
        event = alarm_event("nightshift-web-memory", "i-00000000000000001", state="OK")
        assert invoke("alarm-trigger", event) == {"started": False, "reason": "state OK"}
        lines = lines_of(rt.log_stream, message="alarm left ALARM or has no data: nothing to start")
    assert len(lines) == 1
    assert lines[0]["correlation_id"] == event["id"]
    assert lines[0]["function_name"] == "nightshift-alarm-trigger"
    assert lines[0]["function_arn"] == ARN + "nightshift-alarm-trigger"
