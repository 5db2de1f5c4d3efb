"""The group lock: up to ``max_in_flight`` remediations per group at a time, each holding one *slot*, a lease in
DynamoDB (docs/design.md, "The group lock" and "Several at once: slots and the capacity ledger").

Slot 0 is the item keyed by the group's name (one slot: the lock as it always was); slot i > 0 is
``<group>#slot<i>`` (a group name has no ``#``). A slot is a lease, not a flag: a crashed execution's slot expires,
and one whose owner execution is no longer running may be taken over early. DynamoDB TTL deletes lazily (and moto
never does), so every condition compares ``expires_at`` itself; the TTL attribute is housekeeping only. A slot
also carries what its remediation does with the group: the instance it selected, and whether the capacity check
reserved it (steps/store/ledger.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, delete_if, expiry, save_if

# Step Functions states in which an execution still owns its work.
LIVE_EXECUTION_STATES = frozenset({"RUNNING", "PENDING_REDRIVE"})
# DescribeExecution is eventually consistent ("may not reflect very recent updates and changes",
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html): a just-started
# owner can read as ExecutionDoesNotExist ("GONE"). A missing owner counts as dead only once its lock or claim
# is older than this; a terminal status (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) counts at once.
MISSING_OWNER_GRACE_SECONDS = 120


# With several slots, how many holders one acquisition asks Step Functions about when every slot is held.
STALE_CHECKS = 2


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

    group = UnicodeAttribute(hash_key=True)  # the slot's key: the group's name (slot 0), or <group>#slot<i>
    owner = UnicodeAttribute()  # the owning execution's ARN
    acquired_at = NumberAttribute()
    expires_at = NumberAttribute()
    purge_at = TTLAttribute()  # DynamoDB TTL attribute: housekeeping after the lease is long over
    instance = UnicodeAttribute(null=True)  # the instance this slot's remediation selected
    zone = UnicodeAttribute(null=True)  # its Availability Zone, when the capacity check read it
    reserved_at = NumberAttribute(null=True)  # when the capacity check let the instance leave service


SLOT_SEPARATOR = "#slot"


def slot_key(group: str, index: int) -> str:
    """The lock table key of the group's slot ``index`` (slot 0 is the group's name: the one-slot lock)."""
    return group if index == 0 else f"{group}{SLOT_SEPARATOR}{index}"


def group_of_slot(key: str) -> str:
    return key.split(SLOT_SEPARATOR, 1)[0]


def slots(keys: Iterable[str]) -> list[GroupLock]:
    """The slot items that exist among ``keys`` (strongly consistent; BatchGetItem pages by 100 keys)."""
    wanted = list(dict.fromkeys(keys))
    found: list[GroupLock] = []
    for start in range(0, len(wanted), 100):
        found.extend(GroupLock.batch_get(wanted[start:start + 100], consistent_read=True))
    return found


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
    # Which slot (or, when none was free, the group's first) and every live holder: not part of the outcome's
    # equality (with one slot, the key is always the group's name).
    key: str | None = field(default=None, compare=False)
    holders: tuple[str, ...] = field(default=(), compare=False)


def _put(key: str, owner: str, now: float, lease_seconds: int, condition: Condition) -> bool:
    item = GroupLock(key, owner=owner, acquired_at=now, expires_at=now + lease_seconds,
                     purge_at=expiry(now + lease_seconds + 86400))
    return save_if(item, condition)


def _acquire_slot(key: str, owner: str, now: float, lease_seconds: int,
                  execution_status: Callable[[str], str]) -> LockOutcome:
    """Take the slot ``key``, or take it over from an owner execution that is no longer running."""
    for _ in range(2):  # a second pass only when the holder vanished between our put and our read
        if _put(key, owner, now, lease_seconds, acquirable_by(owner, now)):
            return LockOutcome(True, owner, expires_at=now + lease_seconds, key=key)
        try:
            current = GroupLock.get(key, consistent_read=True)
        except GroupLock.DoesNotExist:
            continue
        if owner_may_run(execution_status(current.owner), float(current.acquired_at), now):
            return LockOutcome(False, owner, holder=current.owner, holder_expires_at=current.expires_at, key=key)
        # Stale: its owner stopped without releasing. Take it over only if it is still that owner's,
        # so two executions racing for the same stale lock cannot both win.
        if _put(key, owner, now, lease_seconds, owned_by(current.owner)):
            return LockOutcome(True, owner, took_over_from=current.owner, expires_at=now + lease_seconds, key=key)
        latest = holder(key)  # another execution's takeover won the race (None: it has released already)
        return LockOutcome(False, owner, holder=latest.owner if latest else "unknown",
                           holder_expires_at=latest.expires_at if latest else None, key=key)
    return LockOutcome(False, owner, holder="unknown", key=key)


def acquire(group: str, owner: str, now: float, lease_seconds: int,
            execution_status: Callable[[str], str], max_slots: int = 1, seen_slots: int = 1) -> LockOutcome:
    """Take a slot of the group's lease (one of ``max_slots``), or take over a slot whose owner execution is no
    longer running. A slot this execution holds already (among the ``seen_slots`` ever used) is re-entered, so a
    Retry or a redrive never holds two."""
    if max_slots <= 1 and seen_slots <= 1:
        return _acquire_slot(group, owner, now, lease_seconds, execution_status)
    keys = [slot_key(group, i) for i in range(max(max_slots, seen_slots))]
    held = {item.group: item for item in slots(keys)}
    mine = [k for k in keys if k in held and held[k].owner == owner]
    if mine:
        return _acquire_slot(mine[0], owner, now, lease_seconds, execution_status)
    usable = keys[:max_slots]
    # Free or expired slots first, by their conditional put alone: no DescribeExecution for a live holder.
    for key in usable:
        free = key not in held or float(held[key].expires_at) < now
        if free and _put(key, owner, now, lease_seconds, acquirable_by(owner, now)):
            return LockOutcome(True, owner, expires_at=now + lease_seconds, key=key)
    # Every slot held: look for a holder that no longer runs, the longest-held first, asking Step Functions about
    # at most STALE_CHECKS of them (each acquisition of a full group would otherwise ask about every holder:
    # fifty remediations in flight, fifty DescribeExecution calls for every start that finds no slot).
    current = [held[k] for k in usable if k in held]
    for item in sorted(current, key=lambda i: float(i.acquired_at))[:STALE_CHECKS]:
        if owner_may_run(execution_status(item.owner), float(item.acquired_at), now):
            continue
        if _put(item.group, owner, now, lease_seconds, owned_by(item.owner)):
            return LockOutcome(True, owner, took_over_from=item.owner, expires_at=now + lease_seconds, key=item.group)
    first = min(current, key=lambda i: float(i.expires_at)) if current else None
    return LockOutcome(False, owner, holder=first.owner if first else "unknown",
                       holder_expires_at=first.expires_at if first else None, key=group,
                       holders=tuple(i.owner for i in current))


def release(key: str, owner: str) -> bool:
    """Release our slot (``key``: the group's name for slot 0). False when it was already gone or not ours: both
    mean "not held by us"."""
    return delete_if(GroupLock(key), owned_by(owner))


def holder(key: str) -> GroupLock | None:
    try:
        return GroupLock.get(key, consistent_read=True)
    except GroupLock.DoesNotExist:
        return None


def note_instance(key: str, owner: str, instance_id: str) -> bool:
    """Record on our slot the instance this remediation selected (other remediations of the group pass it over
    at their selection). False when the slot is no longer ours."""
    return _update_if_mine(key, owner, [GroupLock.instance.set(instance_id)])


def _update_if_mine(key: str, owner: str, actions: list[Action]) -> bool:
    try:
        GroupLock(key).update(actions=actions, condition=owned_by(owner))
    except UpdateError as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True


@dataclass(frozen=True)
class Renewal:
    renewed: bool
    expires_at: float | None = None  # the new expiry when renewed
    holder: str | None = None  # who holds the lock when it is no longer ours (None: nobody)


def renew(key: str, owner: str, now: float, lease_seconds: float) -> Renewal:
    """Extend our lease to ``now + lease_seconds``, only while the lock is OWNED_BY us (an UpdateItem
    conditional on the owner; acquired_at is kept). Not renewed: another execution holds it (it took the
    lease over after it expired), or it is gone; either way this execution no longer owns the group."""
    expires_at = now + lease_seconds
    if not _update_if_mine(key, owner, [GroupLock.expires_at.set(expires_at),
                                         GroupLock.purge_at.set(expiry(expires_at + 86400))]):
        current = holder(key)
        return Renewal(False, holder=current.owner if current else None)
    return Renewal(True, expires_at=expires_at)
