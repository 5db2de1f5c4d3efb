"""Trigger: a CloudWatch alarm in ALARM starts one remediation of the group it speaks for, whichever way AWS
delivered the state change: an EventBridge "CloudWatch Alarm State Change" event, an SNS notification (one
or several records), or a Lambda alarm action (``steps/triggers/alarm_delivery.py`` reads all three).

The group comes from the alarm's ``nightshift:group`` tag, else from its dimensions (an InstanceId →
the group whose target groups hold it, or, for an instance a remediation took out of them, the group of the
remediation that claims it; a TargetGroup → the group that declares it). When the alarm
names one instance, that instance is the candidate (every guard still applies). The execution name is
derived from the alarm and its state-change time, so a duplicated event, or the same state change delivered
by a second path, starts nothing new; a claim in the
lock table (``steps/store/alarm_claims.py``) makes one delivery write ``ALARM_STARTED`` and proves to the
validate step that this trigger, not a person, said ``trigger: alarm``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from steps.aws import alarms, executions
from steps.core import clock, container, groups
from steps.core.config import GroupConfig, GroupsDocument
from steps.core.events import CONTROL_CHARACTERS
from steps.core.exceptions import ConfigurationError, InvalidRequest
from steps.core.observability import EVENTBRIDGE_EVENT_ID, logger, tracer
from steps.core.reasons import Reason
from steps.store import alarm_claims, audit, claim
from steps.triggers.alarm_delivery import AlarmChange, changes


def execution_name(alarm_name: str, changed_at: datetime) -> str:
    """Stable per alarm state change, within Step Functions' 80 characters of [A-Za-z0-9-_]."""
    slug = re.sub(r"[^A-Za-z0-9-_]", "-", alarm_name)[:40]
    digest = hashlib.sha256(alarm_name.encode()).hexdigest()[:8]
    return f"alarm-{slug}-{digest}-{changed_at.strftime('%Y%m%dT%H%M%S%f')[:-3]}"


def resolve(change: AlarmChange, document: GroupsDocument) -> tuple[GroupConfig, str | None, str]:
    """(group, the named instance if any, how the group was found)."""
    tags = change.tags
    if tags is None and change.arn:
        tags = alarms.tags(change.arn)
    instance_id = change.dimensions.get("InstanceId")
    if tags and alarms.GROUP_TAG in tags:
        return document.group(tags[alarms.GROUP_TAG]), instance_id, f"tag {alarms.GROUP_TAG}"
    if instance_id:
        group = groups.group_of_instance(document, instance_id)
        if group:
            return group, instance_id, f"dimension InstanceId={instance_id}"
        # Out of service for a remediation (deregistered: in no target group once its drain ends): the group of the
        # remediation claiming it. Its own remediation answers the alarm (this one ends on the claim).
        holder = claim.holder(instance_id)
        if holder is not None and holder.claimed_for in document.by_name:
            return (document.by_name[holder.claimed_for], instance_id,
                    f"dimension InstanceId={instance_id}, claimed by a remediation of {holder.claimed_for}")
    target_group = change.dimensions.get("TargetGroup")
    if target_group:
        for group in document.groups:
            if any(arn.endswith(f":{target_group}") for arn in group.target_group_arns):
                return group, None, f"dimension TargetGroup={target_group}"
    raise ConfigurationError(
        f"alarm {change.name}: no group found; tag the alarm {alarms.GROUP_TAG}=<group> or give it an "
        "InstanceId or TargetGroup dimension of a declared group"
    )


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EVENTBRIDGE_EVENT_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    found = changes(event)
    refused = [r for r in found if isinstance(r, InvalidRequest)]
    good = [c for c in found if not isinstance(c, InvalidRequest)]
    if not good:
        raise refused[0]
    if len(found) == 1:
        return start_for(good[0])
    # An SNS delivery may batch several notifications: each is its own state change, started (or not) alone.
    outcomes = [start_for(change) for change in good]
    if refused:
        # The good ones are started; the invocation still fails, so the event reaches the dead-letter queue and
        # pages (Lambda's retries start nothing twice: each started one is a duplicate now).
        raise InvalidRequest(f"{len(refused)} of {len(found)} SNS records refused ({len(outcomes)} alarm(s) handled: "
                             f"{sum(o['started'] for o in outcomes)} started): " + "; ".join(map(str, refused)))
    return {"started": any(o["started"] for o in outcomes), "outcomes": outcomes}


def start_for(change: AlarmChange) -> dict[str, Any]:
    """Start the remediation one alarm state change asks for, at most once whichever way it was delivered."""
    if change.delivery_id and change.via != "eventbridge":
        logger.set_correlation_id(change.delivery_id)
    prefix = container.settings().alarm_name_prefix
    if prefix and not change.name.startswith(prefix):
        # The EventBridge rule matches opted-in alarms only; an SNS topic or an alarm action can carry any alarm
        # (a topic people also read): one that did not opt in is ignored, not refused (a refusal would page).
        logger.info("alarm did not opt in: nothing to start",
                    extra={"alarm": change.name, "prefix": prefix, "via": change.via})
        return {"started": False, "reason": f"alarm name does not start with {prefix}"}
    if change.state != "ALARM":
        logger.info("alarm left ALARM or has no data: nothing to start",
                    extra={"alarm": change.name, "state": change.state, "via": change.via})
        return {"started": False, "reason": f"state {change.state}"}
    group, instance_id, found_by = resolve(change, groups.load())
    name = execution_name(change.name, change.changed_at)
    alarm = {"name": change.name, "time": change.changed_at.isoformat(), "reason": change.reason,
             "found_by": found_by}
    said = CONTROL_CHARACTERS.sub(" ", f"alarm {change.name}: {change.reason}")  # one line, as validated
    request: dict[str, Any] = {"group": group.name, "trigger": "alarm", "alarm": alarm, "reason": said[:500],
                               "requested_by": "cloudwatch"}
    if instance_id:
        request["instance_id"] = instance_id
    # The claim first: it proves to the validate step that this trigger started the execution with this input.
    # Start whatever the claim says: a delivery whose predecessor died between claim and start must still start.
    alarm_claims.claim(name, group.name, change.name, alarm["time"], clock.now(), request)
    arn, _ = executions.start(container.settings().state_machine_arn(), name, request)
    logger.set_correlation_id(arn)  # from here on: the remediation it started (its lines carry the same id)
    details = {**alarm, "execution_name": name, "via": change.via}
    claimed = alarm_claims.find(name)
    if claimed is not None and claimed.audited_at is None:
        # ALARM_STARTED before the audited mark, under a key derived from the claim: a delivery that dies
        # between the two leaves the mark unset, and its retry writes the same item again, never a second one.
        audit.record(audit.AuditEntry(
            group=group.name, event=Reason.ALARM_STARTED, reason=f"alarm {change.name} in ALARM started {name}",
            at=float(claimed.claimed_at), instance_id=instance_id, execution_id=arn, remediation_id=name,
            trigger="alarm", details=details, idempotency_key=f"ALARM_STARTED#{name}"))
    # Exactly one delivery marks it: that one reports started, every other writes ALARM_DUPLICATE.
    started = alarm_claims.mark_audited(name, clock.now())
    if not started:
        audit.record(audit.AuditEntry(
            group=group.name, event=Reason.ALARM_DUPLICATE, at=clock.now(), instance_id=instance_id,
            reason=f"alarm {change.name} state change already started {name} (this delivery came by "
                   f"{change.via}); nothing new started",
            execution_id=arn, remediation_id=name, trigger="alarm", details=details))
    return {"started": started, "execution_arn": arn, "group": group.name, "instance_id": instance_id,
            "via": change.via}
