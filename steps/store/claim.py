"""The instance claim: one remediation per instance at a time, whatever the groups declare.

The group lease makes it one remediation per group. Two groups can still reach the same instance (it is
registered in a target group of each, which validation cannot see when it happens after the groups were
declared), and the sweep starts four groups at a time. So the selection also claims the instance it picks
with a conditional put in the lock table, under ``instance#<instance id>`` (owner: the execution), before
anything is taken out of service; an instance another execution holds is passed over. The state machine
deletes the claim (conditionally on owner = this execution) right after it releases the group lock, on
every path; the sweep's reconciler deletes claims whose owner no longer runs.

A claim is taken over only from an execution that no longer runs (never merely because it is old; an owner
DescribeExecution cannot find yet counts as running for ``lock.MISSING_OWNER_GRACE_SECONDS``): a
remediation that outlives ``expires_at`` still owns its instance. ``expires_at`` says until when the
claim was expected to be needed (the group's lease); ``purge_at`` is DynamoDB TTL housekeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from steps.store.lock import owner_may_run
from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, delete_if, expiry, save_if

PREFIX = "instance#"


class InstanceClaim(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # the lock table's key: "instance#<instance id>"
    owner = UnicodeAttribute()  # the owning execution's ARN
    claimed_for = UnicodeAttribute()  # the Nightshift group whose remediation holds it
    remediation_id = UnicodeAttribute()
    acquired_at = NumberAttribute()
    expires_at = NumberAttribute()
    purge_at = TTLAttribute()  # DynamoDB TTL attribute


def key(instance_id: str) -> str:
    return f"{PREFIX}{instance_id}"


@dataclass(frozen=True)
class ClaimOutcome:
    claimed: bool
    holder: str | None = None  # the execution holding it when we did not get it
    holder_group: str | None = None
    took_over_from: str | None = None


def _put(instance_id: str, owner: str, group: str, remediation_id: str, now: float, lease_seconds: int,
         previous_owner: str | None) -> bool:
    item = InstanceClaim(key(instance_id), owner=owner, claimed_for=group, remediation_id=remediation_id,
                         acquired_at=now, expires_at=now + lease_seconds,
                         purge_at=expiry(now + lease_seconds + 86400))
    condition = (InstanceClaim.group.does_not_exist() | (InstanceClaim.owner == owner) if previous_owner is None
                 else InstanceClaim.owner == previous_owner)
    return save_if(item, condition)


def acquire(instance_id: str, owner: str, group: str, remediation_id: str, now: float, lease_seconds: int,
            execution_status: Callable[[str], str]) -> ClaimOutcome:
    """Claim ``instance_id`` for ``owner``: free, already ours (a Retry), or held by an execution that no
    longer runs (taken over conditionally on that owner, so two racing takeovers cannot both win)."""
    for _ in range(2):  # a second pass only when the holder released between our put and our read
        if _put(instance_id, owner, group, remediation_id, now, lease_seconds, None):
            return ClaimOutcome(True)
        current = holder(instance_id)
        if current is None:
            continue
        if owner_may_run(execution_status(current.owner), float(current.acquired_at), now):
            return ClaimOutcome(False, holder=current.owner, holder_group=current.claimed_for)
        if _put(instance_id, owner, group, remediation_id, now, lease_seconds, current.owner):
            return ClaimOutcome(True, took_over_from=current.owner)
        latest = holder(instance_id)
        return ClaimOutcome(False, holder=latest.owner if latest else "unknown",
                            holder_group=latest.claimed_for if latest else None)
    return ClaimOutcome(False, holder="unknown")


def release(instance_id: str, owner: str) -> bool:
    """Delete the claim if ``owner`` holds it. False: already gone, or not ours."""
    return delete_if(InstanceClaim(key(instance_id)), InstanceClaim.owner == owner)


def holder(instance_id: str) -> InstanceClaim | None:
    try:
        return InstanceClaim.get(key(instance_id), consistent_read=True)
    except InstanceClaim.DoesNotExist:
        return None


def all_claims() -> Iterator[InstanceClaim]:
    """Every claim in the lock table (the reconciler's stale-claim check; the table holds one item per
    group, per claimed instance, per daily notice and per group's reconcile progress: it stays small)."""
    yield from InstanceClaim.scan(InstanceClaim.group.startswith(PREFIX))
