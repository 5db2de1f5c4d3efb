"""Step Functions: is the execution that holds a lock still alive?"""

from __future__ import annotations

from botocore.exceptions import ClientError

from steps.aws.clients import client
from steps.aws.errors import aws_call, error_code


def execution_status(execution_arn: str) -> str:
    """RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE, or GONE when unknown."""
    # Inside aws_call so a network error becomes AwsUnavailable (retried), not a raw botocore exception.
    with aws_call(f"DescribeExecution {execution_arn}"):
        try:
            response = client("stepfunctions").describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) in {"ExecutionDoesNotExist", "InvalidArn"}:
                return "GONE"
            raise
    return str(response["status"])
