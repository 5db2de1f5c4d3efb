"""Table names and region, read from the environment when the models are defined.

The SAM template sets these variables on every function; the local runtime sets the same names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, PutError

LOCK_TABLE = os.environ.get("NIGHTSHIFT_LOCK_TABLE", "nightshift-locks")
AUDIT_TABLE = os.environ.get("NIGHTSHIFT_AUDIT_TABLE", "nightshift-audit")
LIFECYCLE_TABLE = os.environ.get("NIGHTSHIFT_LIFECYCLE_TABLE", "nightshift-remediations")
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

# Audit and lifecycle records are kept this long, then DynamoDB TTL removes them.
RETENTION_SECONDS = 400 * 24 * 3600


def expiry(at: float) -> datetime:
    """The value of a TTLAttribute (DynamoDB TTL: epoch seconds, stored as N) for the epoch time ``at``, whole
    seconds as before. From the step clock, never TTLAttribute's timedelta form (that reads the wall clock)."""
    return datetime.fromtimestamp(int(at), UTC)


def conditional_check_failed(exc: Exception) -> bool:
    """PynamoDB wraps botocore errors; this finds the DynamoDB error code underneath."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def delete_if(item: Any, condition: Any) -> bool:
    """Delete ``item`` only while ``condition`` holds (e.g. the owner is still us). False when it did not
    hold (the item is gone, or someone else's): for a release, both mean "not ours to give back"."""
    return _conditionally(lambda: item.delete(condition=condition), DeleteError)


def save_if(item: Any, condition: Any) -> bool:
    """Put ``item`` only while ``condition`` holds (free, still ours, ...). False when it did not hold."""
    return _conditionally(lambda: item.save(condition=condition), PutError)


def _conditionally(write: Callable[[], object], failure: type[Exception]) -> bool:
    try:
        write()
    except failure as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True
