"""Trigger: an instance is about to be terminated; start one termination drain (statemachine/drain.asl.json).

Two EventBridge events (infra/template.yaml has a rule for each):

- "EC2 Instance-terminate Lifecycle Action" (source ``aws.autoscaling``): a termination lifecycle hook put the
  instance in ``Terminating:Wait``; ``detail`` carries LifecycleActionToken, AutoScalingGroupName,
  LifecycleHookName, EC2InstanceId and LifecycleTransition ``autoscaling:EC2_INSTANCE_TERMINATING``
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/prepare-for-lifecycle-notifications.html);
- "EC2 Spot Instance Interruption Warning" (source ``aws.ec2``): ``detail`` carries ``instance-id`` and
  ``instance-action``, emitted two minutes before EC2 interrupts the instance
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).

Only the hook Nightshift serves (``nightshift-drain``, docs/deploy.md) is handled: a group's other termination
hooks send their own events, and their actions are their owners' (nothing started, nothing sent).

The group is the declared group whose target groups hold the instance (as for an alarm naming an instance), else
the group of the remediation that claims it (steps/store/claim.py: a remediation that took it out of every target
group, e.g. to reboot it, must be stopped and must not put it back); none: the drain lets it go at once, audited.
The execution name is derived from the event (the lifecycle action token; the Spot instance and the event's
time), so a duplicated delivery starts nothing new (``TERMINATION_DUPLICATE``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from steps.aws import autoscaling, executions
from steps.core import clock, container, groups
from steps.core.config import GroupConfig, GroupsDocument
from steps.core.entrypoint import validation_message
from steps.core.exceptions import InvalidRequest
from steps.core.observability import EVENTBRIDGE_EVENT_ID, logger, tracer
from steps.core.reasons import Reason
from steps.store import audit, claim

INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8}([0-9a-f]{9})?$"  # pydantic's regex: "$" matches only at the very end
NO_GROUP = "unmanaged"  # steps/drain/prepare_termination_drain.py NO_GROUP


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class LifecycleActionDetail(_Loose):
    LifecycleActionToken: str = Field(min_length=1)
    AutoScalingGroupName: str = Field(min_length=1)
    LifecycleHookName: str = Field(min_length=1)
    EC2InstanceId: str = Field(pattern=INSTANCE_ID_PATTERN)
    LifecycleTransition: Literal["autoscaling:EC2_INSTANCE_TERMINATING"]


class LifecycleActionEvent(EventBridgeModel):
    detail_type: Literal["EC2 Instance-terminate Lifecycle Action"] = Field(alias="detail-type")
    source: Literal["aws.autoscaling"]
    detail: LifecycleActionDetail


class SpotWarningDetail(_Loose):
    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    instance_action: str = Field(alias="instance-action")


class SpotWarningEvent(EventBridgeModel):
    detail_type: Literal["EC2 Spot Instance Interruption Warning"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    detail: SpotWarningDetail


EXPECTED = ('an EventBridge "EC2 Instance-terminate Lifecycle Action" (source aws.autoscaling) or '
            '"EC2 Spot Instance Interruption Warning" (source aws.ec2) event')


def parse_event(event: dict[str, Any]) -> LifecycleActionEvent | SpotWarningEvent:
    kind = event.get("detail-type") if isinstance(event, dict) else None
    model: type[LifecycleActionEvent] | type[SpotWarningEvent] = (
        SpotWarningEvent if kind == "EC2 Spot Instance Interruption Warning" else LifecycleActionEvent)
    try:
        return parse(event=event, model=model)
    except ValidationError as exc:
        raise InvalidRequest(f"expected {EXPECTED}: {validation_message(exc)}") from exc


def group_of(document: GroupsDocument, instance_id: str) -> GroupConfig | None:
    """The declared group whose target groups hold ``instance_id``, else the group of the remediation claiming it
    (deregistered by that remediation, it is in no target group now)."""
    group = groups.group_of_instance(document, instance_id)
    if group is None and (holder := claim.holder(instance_id)) is not None:
        group = document.by_name.get(holder.claimed_for)
    return group


def execution_name(parsed: LifecycleActionEvent | SpotWarningEvent) -> str:
    """Stable per event, within Step Functions' 80 characters of [A-Za-z0-9-_]."""
    if isinstance(parsed, LifecycleActionEvent):
        token = re.sub(r"[^A-Za-z0-9-_]", "-", parsed.detail.LifecycleActionToken)[:60]
        return f"hook-{token}"
    when: datetime = parsed.time
    return f"spot-{parsed.detail.instance_id}-{when.strftime('%Y%m%dT%H%M%S')}"


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EVENTBRIDGE_EVENT_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = parse_event(event)
    if isinstance(parsed, LifecycleActionEvent) and parsed.detail.LifecycleHookName != autoscaling.DRAIN_HOOK_NAME:
        # Another termination hook of the group (one event per hook): completing its action would cut its owner's
        # work short. Nothing started, nothing sent.
        logger.info(f"lifecycle hook {parsed.detail.LifecycleHookName} of {parsed.detail.AutoScalingGroupName} is "
                    f"not {autoscaling.DRAIN_HOOK_NAME}: left to its owner")
        return {"started": False, "execution_arn": None, "group": None,
                "instance_id": parsed.detail.EC2InstanceId, "ignored": "another lifecycle hook"}
    if isinstance(parsed, LifecycleActionEvent):
        detail = parsed.detail
        instance_id = detail.EC2InstanceId
        termination: dict[str, Any] = {
            "kind": "lifecycle", "instance_id": instance_id, "event_time": parsed.time.timestamp(),
            "auto_scaling_group": detail.AutoScalingGroupName, "hook": detail.LifecycleHookName,
            "token": detail.LifecycleActionToken}
        trigger = "lifecycle_hook"
    else:
        instance_id = parsed.detail.instance_id
        termination = {"kind": "spot", "instance_id": instance_id, "event_time": parsed.time.timestamp(),
                       "instance_action": parsed.detail.instance_action}
        trigger = "spot"
    group = group_of(groups.load(), instance_id)
    name = execution_name(parsed)
    group_name = group.name if group is not None else NO_GROUP
    request = {"group": group_name, "trigger": trigger, "remediation_id": name, "instance_id": instance_id,
               "reason": f"{parsed.detail_type} for {instance_id}", "requested_by": parsed.source}
    arn, started = executions.start(container.settings().drain_machine_arn(), name,
                                    {"request": request, "termination": termination})
    logger.set_correlation_id(arn)
    details = {**termination, "execution_name": name}
    if started:
        audit.record(audit.AuditEntry(
            group=group_name, event=Reason.TERMINATION_DRAIN_STARTED, at=clock.now(), instance_id=instance_id,
            reason=f"{parsed.detail_type} for {instance_id} started {name}", execution_id=arn,
            remediation_id=name, trigger=trigger, details=details))
    else:
        audit.record(audit.AuditEntry(
            group=group_name, event=Reason.TERMINATION_DUPLICATE, at=clock.now(), instance_id=instance_id,
            reason=f"{parsed.detail_type} for {instance_id} already started {name}; nothing new started",
            execution_id=arn, remediation_id=name, trigger=trigger, details=details))
    return {"started": started, "execution_arn": arn, "group": group_name, "instance_id": instance_id}
