"""Start remediate executions (the triggers outside the workflow)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from steps.aws.clients import client
from steps.aws.errors import aws_call, error_code
from steps.aws.stepfunctions import execution_status


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def start(state_machine_arn: str, name: str, execution_input: dict[str, Any]) -> tuple[str, bool]:
    """(execution ARN, whether this call started it).

    Names make triggers idempotent: Step Functions answers a repeated name with ``ExecutionAlreadyExists``
    once the first execution has closed, but while it runs (same input) it *succeeds* and returns the same
    execution. So look the name up first; two deliveries racing past the look-up still yield one execution.
    """
    arn = execution_arn(state_machine_arn, name)
    if execution_status(arn) != "GONE":
        return arn, False
    # Inside aws_call so a network error becomes AwsUnavailable (retried), not a raw botocore exception.
    with aws_call(f"StartExecution {name}"):
        try:
            response = client("stepfunctions").start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return arn, False
            raise
    return str(response["executionArn"]), True
