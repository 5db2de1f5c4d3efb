"""GIVEN a failed execution WHEN replaying THEN redrive when it stopped mid-flight, a new linked
execution when it already ran the restore path (redriving would only fail again), never for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nightshift.replay import ReplayRefused, replay, replay_name

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:nightshift-remediate"
FAILED_RUN = MACHINE.replace(":stateMachine:", ":execution:") + ":run-1"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class FakeStepFunctions:
    def __init__(self, status: str, error: str | None, stopped: datetime, redrive_ok: bool = True) -> None:
        self.executions = {FAILED_RUN: {"executionArn": FAILED_RUN, "stateMachineArn": MACHINE, "status": status,
                                        "error": error, "stopDate": stopped,
                                        "input": json.dumps({"group": "web", "reason": "leak"})}}
        self.redrive_ok = redrive_ok
        self.redriven: list[str] = []
        self.started: list[dict[str, Any]] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn not in self.executions:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution")
        return self.executions[executionArn]

    def redrive_execution(self, executionArn: str) -> dict[str, Any]:
        if not self.redrive_ok:
            raise ClientError({"Error": {"Code": "ExecutionNotRedrivable", "Message": "no"}}, "RedriveExecution")
        self.redriven.append(executionArn)
        return {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        arn = stateMachineArn.replace(":stateMachine:", ":execution:") + f":{name}"
        self.started.append({"name": name, "input": json.loads(input)})
        self.executions[arn] = {"executionArn": arn, "status": "RUNNING"}
        return {"executionArn": arn}


@pytest.mark.parametrize(("status", "error"), [("ABORTED", None), ("TIMED_OUT", None), ("FAILED", "AwsThrottled")])
def test_a_run_stopped_mid_flight_is_redriven(status: str, error: str | None) -> None:
    sfn = FakeStepFunctions(status, error, NOW - timedelta(hours=1))
    result = replay(sfn, FAILED_RUN, now=NOW)
    assert result.how == "redrive" and sfn.redriven == [FAILED_RUN] and sfn.started == []


def test_a_run_that_ended_in_the_restore_path_is_replayed_as_a_linked_new_execution() -> None:
    sfn = FakeStepFunctions("FAILED", "RemediationFailed", NOW - timedelta(hours=1))
    result = replay(sfn, FAILED_RUN, now=NOW)
    assert result.how == "new" and sfn.redriven == []
    started = sfn.started[0]
    assert started["name"] == replay_name(FAILED_RUN)
    assert started["input"] == {"group": "web", "trigger": "replay", "replay_of": FAILED_RUN,
                                "remediation_id": "run-1", "reason": "replay of run-1: leak"}


def test_older_than_the_redrive_window_or_refused_falls_back_to_a_new_execution() -> None:
    old = FakeStepFunctions("ABORTED", None, NOW - timedelta(days=15))
    assert replay(old, FAILED_RUN, now=NOW).how == "new" and old.redriven == []
    refused = FakeStepFunctions("ABORTED", None, NOW - timedelta(hours=1), redrive_ok=False)
    result = replay(refused, FAILED_RUN, now=NOW)
    assert result.how == "new" and "ExecutionNotRedrivable" in result.note


def test_bad_input_and_unfinished_runs_are_refused() -> None:
    with pytest.raises(ReplayRefused, match="failed validation"):
        replay(FakeStepFunctions("FAILED", "InvalidRequest", NOW), FAILED_RUN, now=NOW)
    with pytest.raises(ReplayRefused, match="RUNNING"):
        replay(FakeStepFunctions("RUNNING", None, NOW), FAILED_RUN, now=NOW)
