"""Store errors reach the state machine as the errors its Retry names; every leaving target state is leaving."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.connection.base import Connection
from pynamodb.exceptions import PutError

from steps.aws import elbv2
from steps.core.exceptions import AwsThrottled, AwsUnavailable
from steps.domain.capacity import healthy_after_removal
from steps.store import errors as store_errors
from tests.harness import Steps

# The errors remediate.asl.json retries on every Lambda Task.
RETRIED = {"AwsThrottled", "AwsUnavailable"}


@pytest.mark.parametrize(("code", "expected"), [
    ("ProvisionedThroughputExceededException", AwsThrottled),
    ("ThrottlingException", AwsThrottled),
    ("InternalServerError", AwsUnavailable),
])
@pytest.mark.parametrize("step", ["validate", "select-worst-instance"])
def test_a_throttled_or_failing_table_is_a_retryable_step_error(steps: Steps, monkeypatch: Any, code: str,
                                                                expected: type[Exception], step: str) -> None:
    if step != "validate":
        steps.validate()
    # GIVEN DynamoDB answers PutItem with a transient error (injected under PynamoDB, which wraps it)
    real = Connection.dispatch

    def dispatch(self: Connection, operation: str, kwargs: dict[str, Any]) -> Any:
        if operation == "PutItem":
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)
        return real(self, operation, kwargs)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    # WHEN a step that writes a table runs
    with pytest.raises(expected) as raised:
        steps.validate() if step == "validate" else steps.call(step)
    # THEN the step fails with an error the ASL retries, naming DynamoDB's code
    assert type(raised.value).__name__ in RETRIED
    assert code in str(raised.value)
    assert isinstance(raised.value.__cause__, PutError)


def test_a_failed_condition_is_not_made_retryable() -> None:
    cause = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "PutItem")
    assert store_errors.retryable(PutError("Failed to put item", cause)) is None


def test_an_unreachable_table_is_unavailable() -> None:
    cause = EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
    assert isinstance(store_errors.retryable(PutError("Failed to put item", cause)), AwsUnavailable)


def test_an_instance_in_unhealthy_draining_is_never_selected(steps: Steps, monkeypatch: Any) -> None:
    # GIVEN an NLB target group reports the leaker as unhealthy.draining (ELBv2 TargetHealth State):
    # it failed its health checks and is draining its connections, i.e. leaving
    real = elbv2.group_target_health

    def reported(arns: list[str]) -> dict[str, dict[str, tuple[str, str | None]]]:
        health = real(arns)
        first = arns[0]
        health[first] = {**health[first], steps.leaker: ("unhealthy.draining", "Target.DeregistrationInProgress")}
        return health

    # What the select step reads (DescribeTargetHealth with reason codes, since the selection criteria).
    monkeypatch.setattr(elbv2, "group_target_health", reported)
    steps.validate()
    # WHEN the worst instance is selected
    out = steps.call("select-worst-instance")
    # THEN the leaker is left alone
    assert out.get("instance_id") != steps.leaker


def test_unhealthy_draining_does_not_count_as_healthy_capacity() -> None:
    states = {"tg": {"i-1": "healthy", "i-2": "unhealthy.draining", "i-3": "healthy"}}
    decision = healthy_after_removal(states, "i-3", min_healthy=2, min_healthy_percent=0)
    assert [c.healthy_after for c in decision.checks] == [1]
    assert not decision.allowed
