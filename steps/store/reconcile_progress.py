"""The reconciler's progress per group, kept in the lock table under ``reconcile#<group>`` (like the pause
flag, it lives with the group's other control data).

``cursor`` is the sort key of the last audit record the reconciler has folded in; ``open_items`` is what
that fold left open: per opening event (``DEREGISTERED``, ``STANDBY_ENTERED``), the remediation ids with no
closing event yet, and when they opened. So the next sweep reads only the trail after the cursor and still
knows every remediation opened before it. Saves are versioned: two sweeps cannot both advance one group.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, delete_if

PREFIX = "reconcile#"


class ProgressConflict(Exception):
    """Another sweep saved this group's progress after we read it."""


class ReconcileProgress(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "reconcile#<group>"
    cursor = UnicodeAttribute(default="")  # "" until the first record is folded in
    open_items = JSONAttribute(default=dict)  # {opening event: {remediation id: opened at}}
    records_read = NumberAttribute(default=0)  # in total, for operators
    updated_at = NumberAttribute(default=0)
    version = VersionAttribute()


def load(group: str) -> ReconcileProgress:
    try:
        return ReconcileProgress.get(f"{PREFIX}{group}", consistent_read=True)
    except ReconcileProgress.DoesNotExist:
        return ReconcileProgress(f"{PREFIX}{group}", cursor="", open_items={}, records_read=0, updated_at=0)


def save(progress: ReconcileProgress) -> None:
    """Conditional on the version we read (PynamoDB's VersionAttribute adds the condition)."""
    try:
        progress.save()
    except PutError as exc:
        if conditional_check_failed(exc):
            raise ProgressConflict(f"{progress.group} was saved by another sweep meanwhile") from exc
        raise


def open_items(progress: ReconcileProgress) -> dict[str, dict[str, float]]:
    raw: dict[str, Any] = progress.open_items or {}
    return {event: {str(rid): float(at) for rid, at in (ids or {}).items()} for event, ids in raw.items()}


WORK_PREFIX = "reconcile-work#"


class WorkMarker(Model):
    """``reconcile-work#<group>``: a remediation left work only the reconciler finishes (an instance still
    EnteringStandby when it was put back). It makes the reconciler visit the group even once the declaration no
    longer names it and no sweep ever saved its progress; the reconciler deletes it after a complete run."""

    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # "reconcile-work#<group>"
    marked_at = NumberAttribute()


def mark_work(group: str, now: float) -> None:
    WorkMarker(f"{WORK_PREFIX}{group}", marked_at=now).save()


def clear_work(group: str, read_at: float) -> None:
    """Delete the marker unless it was written again after ``read_at`` (when this run started reading)."""
    delete_if(WorkMarker(f"{WORK_PREFIX}{group}"), WorkMarker.marked_at <= read_at)


def groups_with_work() -> set[str]:
    """Groups the lock table says may have something to reconcile: a group lock is held (its holder may be
    dead), a saved progress item has open remediations, or a work marker names the group. One Scan of the
    lock table (a few items per group), projected to the key and ``open_items``; used for groups the
    declaration no longer names (or cannot be read), whose instances must still be put back."""
    found: set[str] = set()
    for item in ReconcileProgress.scan(attributes_to_get=["group", "open_items"]):
        key = str(item.group)
        if "#" not in key:  # a group lock ("<group>"); group names cannot contain "#"
            found.add(key)
        elif key.startswith(PREFIX) and any((item.open_items or {}).values()):
            found.add(key[len(PREFIX):])
        elif key.startswith(WORK_PREFIX):
            found.add(key[len(WORK_PREFIX):])
    return found
