"""The audit trail: one item per decision or action, with the numbers behind it (docs/design.md, "The audit trail").

Partition by group, sorted by time; a GSI answers "what happened to this instance".
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from steps.core.reasons import Reason, reason_of
from steps.store.tables import AUDIT_TABLE, NO_SDK_RETRIES, REGION, RETENTION_SECONDS, expiry

NO_INSTANCE = "-"


class ByInstance(GlobalSecondaryIndex["AuditRecord"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by-instance"
        projection = AllProjection()

    instance_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AuditRecord(Model):
    class Meta:
        table_name = AUDIT_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)
    # ISO time first so a Query returns the trail in order; the suffix keeps same-millisecond events apart.
    sk = UnicodeAttribute(range_key=True)
    at = NumberAttribute()
    event = UnicodeAttribute()
    instance_id = UnicodeAttribute(default=NO_INSTANCE)
    execution_id = UnicodeAttribute(default="")
    remediation_id = UnicodeAttribute(default="")
    trigger = UnicodeAttribute(default="manual")
    reason = UnicodeAttribute()
    details = JSONAttribute(default=dict)
    expires_at = TTLAttribute()  # DynamoDB TTL: retention
    by_instance = ByInstance()


@dataclass(frozen=True)
class AuditEntry:
    """What a step knows when it records something; ``details`` holds the numbers behind the decision."""

    group: str
    event: Reason  # only the enumeration's codes: record() refuses any other
    reason: str
    at: float
    instance_id: str | None = None
    execution_id: str = ""
    remediation_id: str = ""
    trigger: str = "manual"
    details: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None  # set: the record's key is derived from it and ``at`` (see record)


# Orders records one handler writes at the same instant (the local runtime's clock stands still inside a
# handler); the random part keeps concurrent writers in different containers apart.
_sequence = itertools.count()


def _sort_key(at: float) -> str:
    stamp = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp}#{next(_sequence) % 1_000_000:06d}{uuid.uuid4().hex[:6]}"


def _deterministic_sort_key(at: float, unique: str) -> str:
    """The same key for the same (time, name): a retried write of the record puts the same item again."""
    stamp = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp}#{hashlib.sha256(unique.encode()).hexdigest()[:12]}"


def record(entry: AuditEntry) -> AuditRecord:
    """Write ``entry``. With ``entry.idempotency_key`` (and a deterministic ``entry.at``) the item's key is derived
    from both, so writing the same record twice (a retried delivery) leaves one item."""
    event = reason_of(entry.event)  # ValueError naming the code: never an unknown code in the trail
    key = entry.idempotency_key
    item = AuditRecord(
        entry.group,
        _sort_key(entry.at) if key is None else _deterministic_sort_key(entry.at, key),
        at=entry.at,
        event=event.value,
        instance_id=entry.instance_id or NO_INSTANCE,
        execution_id=entry.execution_id,
        remediation_id=entry.remediation_id,
        trigger=entry.trigger,
        reason=entry.reason,
        details=entry.details,
        expires_at=expiry(entry.at + RETENTION_SECONDS),
    )
    item.save()
    return item


def for_group(group: str, since: float | None = None) -> Iterator[AuditRecord]:
    condition = None
    if since is not None:
        condition = AuditRecord.sk >= datetime.fromtimestamp(since, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return AuditRecord.query(group, range_key_condition=condition)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def page_for_group(group: str, after: str | None, since: float, page_size: int,
                   last_evaluated_key: dict[str, Any] | None = None) -> ResultIterator[AuditRecord]:
    """One page (at most ``page_size`` records) of the group's trail, oldest first, by key condition:
    records after the sort key ``after`` (a cursor), or, with no cursor or one older than ``since``, from
    ``since`` on. Strongly consistent, so a record written before the call is never missed. Iterate it,
    then pass its ``last_evaluated_key`` back for the next page (None: the trail is read to its end)."""
    lower = _iso(since)
    condition = AuditRecord.sk > after if after and after >= lower else AuditRecord.sk >= lower
    return AuditRecord.query(group, range_key_condition=condition, limit=page_size, page_size=page_size,
                             last_evaluated_key=last_evaluated_key, consistent_read=True)


def for_instance(instance_id: str, since: float | None = None) -> Iterator[AuditRecord]:
    """The instance's records (the by-instance index), from ``since`` on by key condition (to the second: the
    sort key starts with the record's ISO time), so a query reads only the window asked for."""
    condition = None if since is None else ByInstance.sk >= _iso(since)
    return AuditRecord.by_instance.query(instance_id, range_key_condition=condition)


def times_of(records: Iterator[AuditRecord], events: set[Reason]) -> list[float]:
    return [float(r.at) for r in records if r.event in events]


def times_per_remediation(records: Iterator[AuditRecord], events: set[Reason]) -> list[float]:
    """One time per remediation (its latest such record): a remediation that failed, was replayed and failed
    again is one failed remediation, not two. Records with no remediation id count per execution."""
    latest: dict[str, float] = {}
    for r in records:
        if r.event in events:
            key = r.remediation_id or r.execution_id or f"{r.sk}"
            latest[key] = max(latest.get(key, float("-inf")), float(r.at))
    return sorted(latest.values())


def as_dict(item: AuditRecord) -> dict[str, Any]:
    return {
        "at": float(item.at),
        "group": item.group,
        "event": item.event,
        "instance_id": None if item.instance_id == NO_INSTANCE else item.instance_id,
        "execution_id": item.execution_id,
        "remediation_id": item.remediation_id,
        "trigger": item.trigger,
        "reason": item.reason,
        "details": item.details,
    }
