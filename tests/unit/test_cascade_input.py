"""GIVEN the input the cascade's two startExecution Tasks build (statemachine/remediate.asl.json) WHEN the parent's
names are as long as Step Functions allows THEN the child's validate step accepts it (issue 17 review).

A child refused by its validate step fails at once (no Catch: nothing is held) and pages through the failed
executions alarm, for every cascade of the group. ``requested_by`` carries the parent's execution ARN
(``$$.Execution.Id``): a state machine name and an execution name are each up to 80 characters
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html, ``name``: "1-80
characters"), and an execution ARN up to 256
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html, ``executionArn``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from steps.core.events import StartInput

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "remediate.asl.json"
CASCADE_STATES = ("Start the next remediation of the group", "Start the next remediation after this one")


def _resolve(path: str, state: dict[str, Any], context: dict[str, Any]) -> Any:
    root, *parts = path.split(".")
    value: Any = context if root == "$$" else state
    for part in parts:
        value = value[part]
    return value


def _child_input(state_name: str, state: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    template = json.loads(ASL.read_text())["States"][state_name]["Parameters"]["Input"]
    return {key.removesuffix(".$"): _resolve(value, state, context) if key.endswith(".$") else value
            for key, value in template.items()}


@pytest.mark.parametrize("state_name", CASCADE_STATES)
@pytest.mark.parametrize("partition,region", [("aws", "us-east-1"), ("aws", "ap-southeast-2"),
                                              ("aws-us-gov", "us-gov-west-1")])
def test_a_cascaded_child_of_a_parent_with_the_longest_names_passes_validation(
        state_name: str, partition: str, region: str) -> None:
    machine = "m" * 80  # ${AWS::StackName}-remediate: a stack name of 70 characters
    parent = "p" * 80  # a person's console start may name it so; the cascade's own names are at most 63
    execution_arn = f"arn:{partition}:states:{region}:123456789012:execution:{machine}:{parent}"
    group = "g" * 64
    state = {"request": {"group": group, "trigger": "manual"},
             "capacity": {"cascade": {"next_reason": f"next remediation of {group}, started by {parent} "
                                                     "(max_in_flight 100%)", "next_delay": 300}}}
    child = _child_input(state_name, state, {"Execution": {"Id": execution_arn}})
    assert child["requested_by"] == execution_arn
    StartInput.model_validate(child)
