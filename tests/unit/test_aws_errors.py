"""The AWS error code behind one of our errors: what the put-back and the shared-instance rule decide on."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from steps.aws.errors import aws_call, code_behind
from steps.core.exceptions import AwsCallFailed, AwsThrottled, AwsUnavailable


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "DescribeInstances")


@pytest.mark.parametrize(("code", "status", "kind"), [
    ("InvalidInstanceID.NotFound", 400, AwsCallFailed),
    ("TargetGroupNotFound", 400, AwsCallFailed),
    ("RequestLimitExceeded", 503, AwsThrottled),
    ("InternalError", 500, AwsUnavailable),
])
def test_the_code_survives_the_translation(code: str, status: int, kind: type[Exception]) -> None:
    with pytest.raises(kind) as raised, aws_call("DescribeInstances"):
        raise _client_error(code, status)
    assert code_behind(raised.value) == code


def test_no_code_when_no_aws_answer() -> None:
    with pytest.raises(AwsUnavailable) as raised, aws_call("DescribeInstances"):
        raise ReadTimeoutError(endpoint_url="https://ec2")
    assert code_behind(raised.value) is None
    assert code_behind(AwsCallFailed("made up, no cause")) is None
