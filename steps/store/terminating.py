"""The terminating mark: an instance a scale-in lifecycle hook or a Spot interruption is taking away.

The termination drain (statemachine/drain.asl.json) writes ``terminating#<instance id>`` in the lock table
before it deregisters the instance. Whoever would put an instance back in service reads it first: the
remediation's put-back (restore, replay) and register step, and the sweep's reconciler (all through
steps/remediate/put_back.py), so none of them registers again an instance that is going away; and a
remediation's poll loops (steps/remediate/lease.py) stop on it (``InstanceTerminating``). An unconditional
put: a duplicated event writes the same facts again. DynamoDB TTL removes it two days after it was written
(an instance is gone by then: a lifecycle hook waits 48 h at most). A Spot instance EC2 stops or hibernates
is not gone: it is parked (steps/store/parked.py), and the reconciler deletes its mark (``release``, conditionally
on the drain that wrote it) when it puts it back, so the mark blocks the other put-back paths only while the
instance is out, never after it is back.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, delete_if, expiry

PREFIX = "terminating#"
KEEP_SECONDS = 2 * 86400


class TerminatingMark(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # the lock table's key: "terminating#<instance id>"
    kind = UnicodeAttribute()  # lifecycle | spot
    execution = UnicodeAttribute()  # the drain execution that wrote it
    at = NumberAttribute()
    purge_at = TTLAttribute()


def key(instance_id: str) -> str:
    return f"{PREFIX}{instance_id}"


def mark(instance_id: str, kind: str, execution: str, now: float) -> None:
    TerminatingMark(key(instance_id), kind=kind, execution=execution, at=now,
                    purge_at=expiry(now + KEEP_SECONDS)).save()


def find(instance_id: str) -> TerminatingMark | None:
    try:
        return TerminatingMark.get(key(instance_id), consistent_read=True)
    except TerminatingMark.DoesNotExist:
        return None


def release(instance_id: str, execution: str) -> bool:
    """Delete the mark while it is still the one ``execution`` wrote (a later termination drain's mark stays).
    False when it was not there or not that execution's."""
    return delete_if(TerminatingMark(key(instance_id)), TerminatingMark.execution == execution)
