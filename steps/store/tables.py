"""Table names and region, read from the environment when the models are defined.

The SAM template sets these variables on every function; the local runtime sets the same names.
"""

from __future__ import annotations

import os

LOCK_TABLE = os.environ.get("NIGHTSHIFT_LOCK_TABLE", "nightshift-locks")
AUDIT_TABLE = os.environ.get("NIGHTSHIFT_AUDIT_TABLE", "nightshift-audit")
LIFECYCLE_TABLE = os.environ.get("NIGHTSHIFT_LIFECYCLE_TABLE", "nightshift-remediations")
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

# Audit and lifecycle records are kept this long, then DynamoDB TTL removes them.
RETENTION_SECONDS = 400 * 24 * 3600


def conditional_check_failed(exc: Exception) -> bool:
    """PynamoDB wraps botocore errors; this finds the DynamoDB error code underneath."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"
