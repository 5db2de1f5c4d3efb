"""Trigger: a CloudWatch alarm in ALARM (an EventBridge "CloudWatch Alarm State Change" event) starts
one remediation of the group it speaks for.

The group comes from the alarm's ``nightshift:group`` tag, else from its dimensions (an InstanceId →
the group whose target groups hold it; a TargetGroup → the group that declares it). When the alarm
names one instance, that instance is the candidate (every guard still applies). The execution name is
derived from the alarm and its state-change time, so a duplicated event starts nothing new; a claim in the
lock table (``steps/store/alarm_claims.py``) makes one delivery write ``ALARM_STARTED`` and proves to the
validate step that this trigger, not a person, said ``trigger: alarm``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steps.aws import alarms, elbv2, executions
from steps.core import clock, container, groups
from steps.core.config import GroupConfig, GroupsDocument
from steps.core.entrypoint import validation_message
from steps.core.events import CONTROL_CHARACTERS
from steps.core.exceptions import ConfigurationError, InvalidRequest
from steps.core.observability import EVENTBRIDGE_EVENT_ID, logger, tracer
from steps.core.reasons import Reason
from steps.store import alarm_claims, audit


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AlarmMetric(_Loose):
    namespace: str = ""
    name: str = ""
    dimensions: dict[str, str] = Field(default_factory=dict)


class AlarmMetricStat(_Loose):
    metric: AlarmMetric


class AlarmQuery(_Loose):
    id: str = ""
    metricStat: AlarmMetricStat | None = None


class AlarmConfiguration(_Loose):
    metrics: list[AlarmQuery] = Field(default_factory=list)
    description: str | None = None


class AlarmState(_Loose):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    timestamp: datetime


class AlarmStateChangeDetail(_Loose):
    alarmName: str
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    alarmTags: dict[str, str] | None = None


class AlarmStateChangeEvent(EventBridgeModel):
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmStateChangeDetail


def execution_name(alarm_name: str, changed_at: datetime) -> str:
    """Stable per alarm state change, within Step Functions' 80 characters of [A-Za-z0-9-_]."""
    slug = re.sub(r"[^A-Za-z0-9-_]", "-", alarm_name)[:40]
    digest = hashlib.sha256(alarm_name.encode()).hexdigest()[:8]
    return f"alarm-{slug}-{digest}-{changed_at.strftime('%Y%m%dT%H%M%S%f')[:-3]}"


def _dimensions(detail: AlarmStateChangeDetail) -> dict[str, str]:
    found: dict[str, str] = {}
    for query in detail.configuration.metrics:
        if query.metricStat:
            found.update(query.metricStat.metric.dimensions)
    return found


def _group_of_instance(document: GroupsDocument, instance_id: str) -> GroupConfig | None:
    for group in document.groups:
        states = elbv2.group_target_states(group.target_group_arns, [instance_id])
        if any(instance_id in members for members in states.values()):
            return group
    return None


def resolve(event: AlarmStateChangeEvent, document: GroupsDocument) -> tuple[GroupConfig, str | None, str]:
    """(group, the named instance if any, how the group was found)."""
    detail = event.detail
    tags = detail.alarmTags
    if tags is None and event.resources:
        tags = alarms.tags(event.resources[0])
    dims = _dimensions(detail)
    instance_id = dims.get("InstanceId")
    if tags and alarms.GROUP_TAG in tags:
        return document.group(tags[alarms.GROUP_TAG]), instance_id, f"tag {alarms.GROUP_TAG}"
    if instance_id:
        group = _group_of_instance(document, instance_id)
        if group:
            return group, instance_id, f"dimension InstanceId={instance_id}"
    target_group = dims.get("TargetGroup")
    if target_group:
        for group in document.groups:
            if any(arn.endswith(f":{target_group}") for arn in group.target_group_arns):
                return group, None, f"dimension TargetGroup={target_group}"
    raise ConfigurationError(
        f"alarm {detail.alarmName}: no group found; tag the alarm {alarms.GROUP_TAG}=<group> or give it an "
        "InstanceId or TargetGroup dimension of a declared group"
    )


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EVENTBRIDGE_EVENT_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        parsed = parse(event=event, model=AlarmStateChangeEvent)
    except ValidationError as exc:
        raise InvalidRequest(f"not a CloudWatch Alarm State Change event: {validation_message(exc)}") from exc
    detail = parsed.detail
    if detail.state.value != "ALARM":
        logger.info("alarm left ALARM or has no data: nothing to start",
                    extra={"alarm": detail.alarmName, "state": detail.state.value})
        return {"started": False, "reason": f"state {detail.state.value}"}
    group, instance_id, found_by = resolve(parsed, groups.load())
    name = execution_name(detail.alarmName, detail.state.timestamp)
    alarm = {"name": detail.alarmName, "time": detail.state.timestamp.isoformat(), "reason": detail.state.reason,
             "found_by": found_by}
    said = CONTROL_CHARACTERS.sub(" ", f"alarm {detail.alarmName}: {detail.state.reason}")  # one line, as validated
    request: dict[str, Any] = {"group": group.name, "trigger": "alarm", "alarm": alarm, "reason": said[:500],
                               "requested_by": "cloudwatch"}
    if instance_id:
        request["instance_id"] = instance_id
    # The claim first: it proves to the validate step that this trigger started the execution with this input.
    # Start whatever the claim says: a delivery whose predecessor died between claim and start must still start.
    alarm_claims.claim(name, group.name, detail.alarmName, alarm["time"], clock.now(), request)
    arn, _ = executions.start(container.settings().state_machine_arn(), name, request)
    logger.set_correlation_id(arn)  # from here on: the remediation it started (its lines carry the same id)
    details = {**alarm, "execution_name": name}
    claimed = alarm_claims.find(name)
    if claimed is not None and claimed.audited_at is None:
        # ALARM_STARTED before the audited mark, under a key derived from the claim: a delivery that dies
        # between the two leaves the mark unset, and its retry writes the same item again, never a second one.
        audit.record(audit.AuditEntry(
            group=group.name, event=Reason.ALARM_STARTED, reason=f"alarm {detail.alarmName} in ALARM started {name}",
            at=float(claimed.claimed_at), instance_id=instance_id, execution_id=arn, remediation_id=name,
            trigger="alarm", details=details, idempotency_key=f"ALARM_STARTED#{name}"))
    # Exactly one delivery marks it: that one reports started, every other writes ALARM_DUPLICATE.
    started = alarm_claims.mark_audited(name, clock.now())
    if not started:
        audit.record(audit.AuditEntry(
            group=group.name, event=Reason.ALARM_DUPLICATE, at=clock.now(), instance_id=instance_id,
            reason=f"alarm {detail.alarmName} state change already started {name}; nothing new started",
            execution_id=arn, remediation_id=name, trigger="alarm", details=details))
    return {"started": started, "execution_arn": arn, "group": group.name, "instance_id": instance_id}
