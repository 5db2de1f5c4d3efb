"""PynamoDB failures become the retryable errors the state machine retries, even with no answer at all."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from pynamodb.exceptions import PutError

from steps.core.exceptions import AwsThrottled, AwsUnavailable
from steps.store import errors


def test_a_lost_answer_is_aws_unavailable_not_a_crash() -> None:
    # botocore's ReadTimeoutError has response=None: PynamoDB's cause_response_code raises AttributeError on it
    cause = ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")
    assert cause.response is None  # type: ignore[attr-defined]
    with pytest.raises(AwsUnavailable, match="Read timeout"), errors.translated():
        raise PutError("Failed to put item", cause)


def test_throttling_and_a_failed_condition_keep_their_meaning() -> None:
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                            "PutItem")
    with pytest.raises(AwsThrottled, match="slow down"), errors.translated():
        raise PutError("Failed to put item", throttled)
    refused = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "PutItem")
    with pytest.raises(PutError), errors.translated():
        raise PutError("Failed to put item", refused)
