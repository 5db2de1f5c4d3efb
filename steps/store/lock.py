"""The group lock: one remediation per group at a time, as a lease in DynamoDB (docs/design.md, "The group lock").

The lock is a lease, not a flag: a crashed execution's lock expires, and a lock whose owner execution
is no longer running may be taken over early. DynamoDB TTL deletes lazily (and moto never does), so
every condition compares ``expires_at`` itself; the TTL attribute is housekeeping only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, delete_if, expiry, save_if

# Step Functions states in which an execution still owns its work.
LIVE_EXECUTION_STATES = frozenset({"RUNNING", "PENDING_REDRIVE"})
# DescribeExecution is eventually consistent ("may not reflect very recent updates and changes",
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html): a just-started
# owner can read as ExecutionDoesNotExist ("GONE"). A missing owner counts as dead only once its lock or claim
# is older than this; a terminal status (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) counts at once.
MISSING_OWNER_GRACE_SECONDS = 120


def owner_may_run(status: str, acquired_at: float, now: float) -> bool:
    """Whether the owner of an item acquired at ``acquired_at`` must be treated as still running."""
    if status in LIVE_EXECUTION_STATES:
        return True
    return status == "GONE" and now - acquired_at < MISSING_OWNER_GRACE_SECONDS


class GroupLock(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()  # the owning execution's ARN
    acquired_at = NumberAttribute()
    expires_at = NumberAttribute()
    purge_at = TTLAttribute()  # DynamoDB TTL attribute: housekeeping after the lease is long over


def lock_is_free() -> Condition:
    return GroupLock.group.does_not_exist()


def lease_expired(now: float) -> Condition:
    return GroupLock.expires_at < now


def owned_by(owner: str) -> Condition:
    return GroupLock.owner == owner


def acquirable_by(owner: str, now: float) -> Condition:
    """LOCK_IS_FREE or LEASE_EXPIRED or already OWNED_BY me (a Retry or a redrive re-enters)."""
    return lock_is_free() | lease_expired(now) | owned_by(owner)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LockOutcome:
    acquired: bool
    owner: str
    holder: str | None = None  # who holds it when we did not get it
    holder_expires_at: float | None = None
    took_over_from: str | None = None
    expires_at: float | None = None


def _put(group: str, owner: str, now: float, lease_seconds: int, condition: Condition) -> bool:
    item = GroupLock(group, owner=owner, acquired_at=now, expires_at=now + lease_seconds,
                     purge_at=expiry(now + lease_seconds + 86400))
    return save_if(item, condition)


def acquire(group: str, owner: str, now: float, lease_seconds: int,
            execution_status: Callable[[str], str]) -> LockOutcome:
    """Take the group's lease, or take over a lease whose owner execution is no longer running."""
    for _ in range(2):  # a second pass only when the holder vanished between our put and our read
        if _put(group, owner, now, lease_seconds, acquirable_by(owner, now)):
            return LockOutcome(True, owner, expires_at=now + lease_seconds)
        try:
            current = GroupLock.get(group, consistent_read=True)
        except GroupLock.DoesNotExist:
            continue
        if owner_may_run(execution_status(current.owner), float(current.acquired_at), now):
            return LockOutcome(False, owner, holder=current.owner, holder_expires_at=current.expires_at)
        # Stale: its owner stopped without releasing. Take it over only if it is still that owner's,
        # so two executions racing for the same stale lock cannot both win.
        if _put(group, owner, now, lease_seconds, owned_by(current.owner)):
            return LockOutcome(True, owner, took_over_from=current.owner, expires_at=now + lease_seconds)
        latest = holder(group)  # another execution's takeover won the race (None: it has released already)
        return LockOutcome(False, owner, holder=latest.owner if latest else "unknown",
                           holder_expires_at=latest.expires_at if latest else None)
    return LockOutcome(False, owner, holder="unknown")


def release(group: str, owner: str) -> bool:
    """Release our lease. Returns False when it was already gone or not ours: both mean "not held by us"."""
    return delete_if(GroupLock(group), owned_by(owner))


def holder(group: str) -> GroupLock | None:
    try:
        return GroupLock.get(group, consistent_read=True)
    except GroupLock.DoesNotExist:
        return None


@dataclass(frozen=True)
class Renewal:
    renewed: bool
    expires_at: float | None = None  # the new expiry when renewed
    holder: str | None = None  # who holds the lock when it is no longer ours (None: nobody)


def renew(group: str, owner: str, now: float, lease_seconds: float) -> Renewal:
    """Extend our lease to ``now + lease_seconds``, only while the lock is OWNED_BY us (an UpdateItem
    conditional on the owner; acquired_at is kept). Not renewed: another execution holds it (it took the
    lease over after it expired), or it is gone; either way this execution no longer owns the group."""
    expires_at = now + lease_seconds
    try:
        GroupLock(group).update(actions=[GroupLock.expires_at.set(expires_at),
                                         GroupLock.purge_at.set(expiry(expires_at + 86400))],
                                condition=owned_by(owner))
    except UpdateError as exc:
        if conditional_check_failed(exc):
            current = holder(group)
            return Renewal(False, holder=current.owner if current else None)
        raise
    return Renewal(True, expires_at=expires_at)
