"""Whether an execution's poll loops have been throttled yet, in the lock table under ``throttled#<execution>``:
a throttled poll read is "no reading this turn" (docs/design.md, "Polls at fleet scale"), audited
``POLL_THROTTLED`` once per execution, by whichever poll sees it first (a conditional UpdateItem)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, expiry

PREFIX = "throttled#"
# A Standard execution runs at most a year; its remediation's waits are bounded far below that. The note is only
# read while the execution polls, so a week covers every remediation's loops (DynamoDB TTL housekeeping).
KEEP_SECONDS = 7 * 86400


class PollThrottled(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "throttled#<execution ARN>"
    first_at = NumberAttribute(null=True)
    purge_at = TTLAttribute(null=True)  # DynamoDB TTL attribute


def first(execution_id: str, now: float) -> bool:
    """True the first time this execution is throttled in a poll; False every later time."""
    try:
        PollThrottled(f"{PREFIX}{execution_id}").update(
            actions=[PollThrottled.first_at.set(now), PollThrottled.purge_at.set(expiry(now + KEEP_SECONDS))],
            condition=PollThrottled.first_at.does_not_exist())
    except UpdateError as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True


def forget(execution_id: str) -> None:
    """Undo ``first`` (its audit could not be written): the next throttled poll audits it."""
    PollThrottled(f"{PREFIX}{execution_id}").update(actions=[PollThrottled.first_at.remove()])
