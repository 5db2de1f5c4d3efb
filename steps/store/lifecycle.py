"""The remediation record: lifecycle state plus what each step did, saved conditionally on the prior state.

The record is keyed by ``remediation_id`` (the first execution's name; a replay carries it), so a
replayed or retried step can find its own earlier result. Every save is conditional on the state it
was read in: two executions cannot both move the same remediation. And on the version it was read at
(PynamoDB's VersionAttribute adds that condition to every save, ANDed with ours): a write made since the
read, even one that kept the state (another attempt's facts), is a LifecycleConflict, never overwritten.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from steps.core.exceptions import LifecycleConflict
from steps.domain.lifecycle import Lifecycle, MachineError, already_past
from steps.store.tables import (
    LIFECYCLE_TABLE,
    NO_SDK_RETRIES,
    REGION,
    RETENTION_SECONDS,
    conditional_check_failed,
    expiry,
)


class RemediationRecord(Model):
    class Meta:
        table_name = LIFECYCLE_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    remediation_id = UnicodeAttribute(hash_key=True)
    group = UnicodeAttribute()
    state = UnicodeAttribute(default="requested")
    trigger = UnicodeAttribute(default="manual")
    instance_id = UnicodeAttribute(null=True)
    executions: ListAttribute[str] = ListAttribute(default=list)
    facts = JSONAttribute(default=dict)  # step name -> the result it returned
    history = JSONAttribute(default=list)  # [{"from", "to", "at", "execution"}]
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    expires_at = TTLAttribute()  # DynamoDB TTL
    version = VersionAttribute()  # optimistic lock: PynamoDB conditions every save on the version read


def open_record(remediation_id: str, group: str, trigger: str, execution_id: str, now: float,
                ) -> RemediationRecord:
    """Create the record, or load it when this remediation already exists (a replay or a redrive)."""
    record = RemediationRecord(
        remediation_id, group=group, trigger=trigger, executions=[execution_id], created_at=now,
        updated_at=now, expires_at=expiry(now + RETENTION_SECONDS), facts={}, history=[],
    )
    try:
        record.save(condition=RemediationRecord.remediation_id.does_not_exist())
        return record
    except PutError as exc:
        if not conditional_check_failed(exc):
            raise
    existing = load(remediation_id)
    if existing.group != group:
        raise LifecycleConflict(
            f"remediation {remediation_id} belongs to group {existing.group}, not {group}"
        )
    if execution_id not in existing.executions:
        existing.executions = [*existing.executions, execution_id]
        _save(existing, existing.state)
    return existing


def load(remediation_id: str) -> RemediationRecord:
    try:
        return RemediationRecord.get(remediation_id, consistent_read=True)
    except RemediationRecord.DoesNotExist:
        raise LifecycleConflict(f"no remediation record {remediation_id}") from None


def _save(record: RemediationRecord, prior_state: str) -> None:
    try:
        record.save(condition=RemediationRecord.state == prior_state)
    except PutError as exc:
        if not conditional_check_failed(exc):
            raise
        if load(record.remediation_id).state == prior_state:  # the state held: the version did not
            raise LifecycleConflict(f"remediation {record.remediation_id} was saved by another writer since it "
                                    f"was read (still in state {prior_state}); read it again") from exc
        raise LifecycleConflict(f"remediation {record.remediation_id} left state {prior_state} under us") from exc


def recorded(record: RemediationRecord, trigger: str) -> dict[str, Any] | None:
    """The result ``trigger``'s step saved earlier, when the record shows that work is done."""
    if already_past(record.state, trigger):
        facts: dict[str, Any] = record.facts or {}
        result = facts.get(trigger)
        return dict(result) if isinstance(result, dict) else {}
    return None


def advance(record: RemediationRecord, trigger: str, result: dict[str, Any], now: float, execution_id: str,
            instance_id: str | None = None) -> RemediationRecord:
    """Fire ``trigger``, keep ``result`` as its recorded outcome, and save conditionally on the prior state."""
    prior = record.state
    lifecycle = Lifecycle(prior)
    try:
        lifecycle.fire(trigger)
    except MachineError as exc:
        raise LifecycleConflict(
            f"remediation {record.remediation_id}: cannot {trigger} from state {prior}"
        ) from exc
    record.state = lifecycle.state
    record.facts = {**(record.facts or {}), trigger: result}
    record.history = [*(record.history or []),
                      {"from": prior, "to": lifecycle.state, "at": now, "execution": execution_id}]
    record.updated_at = now
    if instance_id:
        record.instance_id = instance_id
    _save(record, prior)
    return record


def save_facts(record: RemediationRecord) -> None:
    """Save changed facts without a state change, still conditional on the state we hold."""
    _save(record, record.state)
