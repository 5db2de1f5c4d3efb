"""The park record: a Spot instance EC2 interrupted with ``stop`` or ``hibernate``, out until EC2 restarts it.

A Spot interruption whose ``instance-action`` is ``stop`` or ``hibernate`` does not end the instance: "Only Amazon
EC2 can restart an interrupted stopped Spot Instance", and for a persistent request "Amazon EC2 restarts the stopped
instance when capacity is available" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html;
a hibernated one is resumed, https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/hibernating-resuming.html). The
termination drain (steps/drain/prepare_termination_drain.py) writes ``parked#<instance id>`` in the lock table
before it deregisters the instance (write-ahead: the target groups it is about to leave are on record even if the
deregistration fails half way). The sweep's reconciler (steps/sweep/reconcile.py ``restore_parked``) registers it
back in those target groups once EC2 reports it ``running`` again, and deletes the record and the instance's
terminating mark (steps/store/terminating.py) with it.

The record holds the group, the target groups (ARN and port, as the deregistration saw them), the interruption's
action and time, and the drain execution that parked it. A second interruption of the same instance before it is
put back (EC2 restarted it, interrupted it again before a sweep ran) finds it registered nowhere: its target groups
are merged with the record's, never replacing them. DynamoDB TTL removes a record ``KEEP_SECONDS`` after it was
written: a backstop for a table that must stay small; the reconciler drops a record whose instance no longer exists
long before, and warns once about one parked longer than ``OVERDUE_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from steps.store.tables import LOCK_TABLE, NO_SDK_RETRIES, REGION, conditional_check_failed, delete_if, expiry

PREFIX = "parked#"
KEEP_SECONDS = 90 * 86400
OVERDUE_SECONDS = 7 * 86400  # parked this long and still not running: audited SPOT_PARK_OVERDUE, once
PARKING_ACTIONS = frozenset({"stop", "hibernate"})  # the Spot instance-actions that leave the instance to come back


class ParkedInstance(Model):
    class Meta:
        table_name = LOCK_TABLE
        region = REGION
        max_retry_attempts = NO_SDK_RETRIES

    group = UnicodeAttribute(hash_key=True)  # the lock table's key: "parked#<instance id>"
    parked_for = UnicodeAttribute()  # the Nightshift group it serves
    target_groups = JSONAttribute(default=list)  # [{"arn": ..., "port": ... or null}]
    action = UnicodeAttribute()  # stop | hibernate (the event's instance-action)
    event_time = NumberAttribute()  # the interruption warning's time
    execution = UnicodeAttribute()  # the drain execution that parked it (its terminating mark names it too)
    at = NumberAttribute()
    overdue_audited_at = NumberAttribute(null=True)
    purge_at = TTLAttribute()

    @property
    def instance_id(self) -> str:
        return str(self.group).removeprefix(PREFIX)

    def registrations(self) -> list[dict[str, Any]]:
        return [{"arn": str(r["arn"]), "port": None if r.get("port") is None else int(r["port"])}
                for r in self.target_groups or []]


def key(instance_id: str) -> str:
    return f"{PREFIX}{instance_id}"


def find(instance_id: str) -> ParkedInstance | None:
    try:
        return ParkedInstance.get(key(instance_id), consistent_read=True)
    except ParkedInstance.DoesNotExist:
        return None


def park(instance_id: str, group: str, registrations: list[dict[str, Any]], action: str, event_time: float,
         execution: str, now: float) -> ParkedInstance:
    """Write (or merge into) the park record: the target groups of an existing record are kept, new ones added."""
    merged: dict[str, dict[str, Any]] = {}
    existing = find(instance_id)
    for registration in [*(existing.registrations() if existing is not None else []), *registrations]:
        merged.setdefault(registration["arn"], {"arn": registration["arn"], "port": registration.get("port")})
    item = ParkedInstance(key(instance_id), parked_for=group, target_groups=list(merged.values()), action=action,
                          event_time=event_time, execution=execution, at=now, purge_at=expiry(now + KEEP_SECONDS))
    item.save()
    return item


def all_parked() -> Iterator[ParkedInstance]:
    """Every park record (one Scan of the lock table, which stays small: see steps/store/claim.py all_claims)."""
    yield from ParkedInstance.scan(ParkedInstance.group.startswith(PREFIX))


def _same_park(item: ParkedInstance) -> Any:
    """The record is still the one ``item`` was read as: a later interruption's drain rewrites it (its own
    execution, the merged target groups), and that record must survive what is done with the one read before."""
    return (ParkedInstance.execution == str(item.execution)) & (ParkedInstance.at == float(item.at))


def mark_overdue_audited(item: ParkedInstance, now: float) -> bool:
    """Note the overdue warning on the record as read (an update of that attribute only, while it is still that
    record); False when a later drain rewrote it meanwhile (its record is left as it wrote it)."""
    try:
        item.update(actions=[ParkedInstance.overdue_audited_at.set(now)], condition=_same_park(item))
    except UpdateError as exc:
        if conditional_check_failed(exc):
            return False
        raise
    return True


def unpark(item: ParkedInstance) -> bool:
    """Delete the record while it is still the one ``item`` was read as (False: a later drain's, kept)."""
    return delete_if(ParkedInstance(item.group), _same_park(item))
