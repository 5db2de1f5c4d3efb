"""Translate botocore failures into the error names the state machine retries or catches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from steps.core.exceptions import AwsCallFailed, AwsThrottled, AwsUnavailable

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
UNAVAILABLE_CODES = frozenset(
    {"InternalError", "InternalFailure", "ServiceUnavailable", "InternalServerError", "Unavailable"}
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def code_behind(exc: BaseException) -> str | None:
    """The AWS error code behind one of our errors (``aws_call`` chains the ClientError), or None."""
    cause = exc.__cause__
    return error_code(cause) if isinstance(cause, ClientError) else None


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Wrap one AWS call; ``what`` says which call, for the error message."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{what}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
        if code in THROTTLING_CODES or status == 429:
            raise AwsThrottled(message) from exc
        if code in UNAVAILABLE_CODES or status >= 500:
            raise AwsUnavailable(message) from exc
        raise AwsCallFailed(message) from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise AwsUnavailable(f"{what}: {exc}") from exc
    except BotoCoreError as exc:
        raise AwsCallFailed(f"{what}: {exc}") from exc


def unreachable(exc: BaseException | None) -> bool:
    """A connection that failed or timed out (incl. EndpointConnectionError, ConnectTimeoutError)."""
    return isinstance(exc, ConnectionError | ReadTimeoutError)
