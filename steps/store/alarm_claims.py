"""One claim per alarm state change, in the lock table under ``alarm#<execution name>``.

The alarm trigger writes it (a conditional put) *before* it starts the execution, writes ``ALARM_STARTED``
under a key derived from the claim (a retried write puts the same item), then marks the claim audited (a
conditional update), so any number of deliveries of one event, concurrent or retried after one died, leave
exactly one ``ALARM_STARTED``.
The validate step reads it to prove an execution claiming ``trigger: alarm`` was started by the alarm
trigger: StartExecution input can be typed by anyone allowed to start an execution; this item can only be
written by a role with PutItem on the lock table (the steps), not by a console user who may only start
executions.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, expiry, save_if

PREFIX = "alarm#"
# Duplicate deliveries come within hours (EventBridge's default retry policy lasts 24 h; Lambda keeps an
# asynchronous event up to 6 h, https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html):
# a week is plenty, then DynamoDB TTL removes the item.
KEEP_SECONDS = 7 * 86400


class AlarmClaim(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "alarm#<execution name>"
    remediation_group = UnicodeAttribute()
    alarm_name = UnicodeAttribute()
    changed_at = UnicodeAttribute()  # the alarm's state-change time, ISO 8601
    claimed_at = NumberAttribute()
    audited_at = NumberAttribute(null=True)
    # What the trigger starts: validation compares the execution's input with it, so a console start reusing
    # an orphaned claim's name (its delivery died before StartExecution) cannot choose its own instance/alarm.
    instance_id = UnicodeAttribute(null=True)
    request_digest = UnicodeAttribute(null=True)
    purge_at = TTLAttribute()  # DynamoDB TTL attribute


def request_digest(request: dict[str, Any]) -> str:
    """The same for the same input, however its keys are ordered (a JSON round trip through Step Functions)."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def claim(execution_name: str, group: str, alarm_name: str, changed_at: str, now: float,
          request: dict[str, Any] | None = None) -> bool:
    """Record that the alarm trigger starts ``execution_name`` with ``request``; True for the first delivery
    only."""
    item = AlarmClaim(f"{PREFIX}{execution_name}", remediation_group=group, alarm_name=alarm_name,
                      changed_at=changed_at, claimed_at=now, purge_at=expiry(now + KEEP_SECONDS),
                      instance_id=(request or {}).get("instance_id"),
                      request_digest=request_digest(request) if request is not None else None)
    return save_if(item, AlarmClaim.group.does_not_exist())


def mark_audited(execution_name: str, now: float) -> bool:
    """True for exactly one caller per claim: the one that writes ALARM_STARTED."""
    item = AlarmClaim(f"{PREFIX}{execution_name}")
    try:
        item.update(actions=[AlarmClaim.audited_at.set(now)],
                    condition=AlarmClaim.audited_at.does_not_exist())  # claim() put the item just before
    except UpdateError as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True


def find(execution_name: str) -> AlarmClaim | None:
    try:
        return AlarmClaim.get(f"{PREFIX}{execution_name}", consistent_read=True)
    except AlarmClaim.DoesNotExist:
        return None
