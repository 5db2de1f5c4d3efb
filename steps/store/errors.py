"""PynamoDB failures as the error names the state machine retries.

PynamoDB wraps every botocore failure in its own exception (``PutError``, ``GetError``, ``QueryError``...,
with the botocore error as ``cause``). A throttled, failed-over or unreachable table is transient: it
must reach Step Functions as ``AwsThrottled`` / ``AwsUnavailable`` (retried with back-off by every Task)
rather than as an unknown exception that goes straight to the restore path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pynamodb.exceptions import PynamoDBException

from steps.aws.errors import THROTTLING_CODES, UNAVAILABLE_CODES, unreachable
from steps.core.exceptions import AwsThrottled, AwsUnavailable, NightshiftError

# DynamoDB's own names for "slow down" and "try again" (besides the generic ones in steps/aws/errors.py).
# TransactionConflictException: a PutItem, UpdateItem or DeleteItem on an item an ongoing TransactWriteItems includes
# is rejected with it (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html,
# "Transaction conflict handling"): the group's head is updated by every reservation's transaction and by
# note_registered / note_slots, so it is a busy item, not a fault; retried with back-off like throttling.
DYNAMODB_THROTTLING = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                                 "RequestLimitExceeded", "TransactionConflictException"})
DYNAMODB_UNAVAILABLE = frozenset({"InternalServerError", "ServiceUnavailable"})


def _error(cause: object) -> tuple[str, str]:
    """(code, message) of DynamoDB's answer, or empty when there was none. Not PynamoDB's
    ``cause_response_code``: a read timeout (botocore's ``ReadTimeoutError``) carries ``response = None``,
    on which that property raises AttributeError, so a lost answer would fail the Task as a bug."""
    response = getattr(cause, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("Code") or ""), str(error.get("Message") or "")


def retryable(exc: PynamoDBException) -> NightshiftError | None:
    """The retryable error ``exc`` stands for, or None when retrying would not help (e.g. a failed condition)."""
    cause = exc.cause
    code, answer = _error(cause)
    message = f"DynamoDB: {exc.msg}: {code} {answer or cause or ''}".strip()
    if code in THROTTLING_CODES or code in DYNAMODB_THROTTLING:
        return AwsThrottled(message)
    if code in UNAVAILABLE_CODES or code in DYNAMODB_UNAVAILABLE:
        return AwsUnavailable(message)
    if unreachable(cause):
        return AwsUnavailable(message)
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise a transient PynamoDB failure as ``AwsThrottled`` / ``AwsUnavailable`` (the cause kept)."""
    try:
        yield
    except PynamoDBException as exc:
        error = retryable(exc)
        if error is None:
            raise
        raise error from exc
