"""Step: take the instance out of every target group of its group (it starts draining).

Write-ahead: the lifecycle record says which target groups and ports we are removing it from before
the first DeregisterTargets call, so the restore path knows what to put back even if this step dies
half-way. Repeating the calls is harmless (deregistering an absent target succeeds).
"""

from __future__ import annotations

from typing import Any

from steps.aws import elbv2
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import CapacityLost, GroupPaused, LifecycleConflict
from steps.core.reasons import Reason
from steps.remediate import blockers
from steps.remediate.standby import enter_standby, send_standby
from steps.store import lifecycle


def registrations_of(target_group_arns: list[str], instance_id: str) -> tuple[list[dict[str, Any]], int]:
    """Where ``instance_id`` is registered among ``target_group_arns`` ({arn, port} each) and the longest
    deregistration delay of those target groups (0 when none). Shared with the termination drain."""
    registrations: list[dict[str, Any]] = [
        {"arn": arn, "port": port} for arn in target_group_arns for port in elbv2.target_ports(arn, instance_id)
    ]
    delays = [elbv2.deregistration_delay(r["arn"]) for r in registrations] or [0]
    return registrations, max(delays)


def deregister_all(instance_id: str, registrations: list[dict[str, Any]]) -> None:
    """DeregisterTargets for each registration (deregistering an absent target succeeds: idempotent)."""
    for registration in registrations:
        elbv2.deregister(registration["arn"], instance_id, registration.get("port"))


@step
def deregister_instance(ctx: StepContext) -> dict[str, Any]:
    instance_id = ctx.require(ctx.instance_id, "selection.instance_id",
                              "the state machine only deregisters a selected instance")
    record = lifecycle.load(ctx.state.request.remediation_id)
    planned = lifecycle.recorded(record, "deregister")
    if planned is not None and record.state != "draining":
        return planned  # already drained and beyond: never deregister again
    fresh = planned is None
    if planned is None:
        if record.state != "selected":
            raise LifecycleConflict(f"cannot deregister {instance_id} in lifecycle state {record.state}")
        # The pause and capacity again, right before the destructive call: the check state may be seconds old.
        paused = blockers.refuse_if_paused(ctx.group, instance_id, "deregistering")
        if paused:
            ctx.audit(Reason.SKIPPED_PAUSED, paused, instance_id=instance_id, at_step="deregister")
            lifecycle.advance(record, "skip", {"reason": Reason.SKIPPED_PAUSED}, ctx.now, ctx.execution_id)
            raise GroupPaused(paused)
        # Registered since the selection in a target group another group guards (or a replay of a remediation
        # selected before this check existed): skip before anything is taken out (steps/remediate/blockers.py).
        shared = blockers.serves_another_group(ctx.group, instance_id)
        if shared:
            ctx.audit(Reason.SKIPPED_SHARED, f"not deregistering {instance_id}: {shared}", instance_id=instance_id,
                      at_step="deregister")
            lifecycle.advance(record, "skip", {"reason": Reason.SKIPPED_SHARED}, ctx.now, ctx.execution_id)
            raise CapacityLost(f"not deregistering {instance_id}: {shared}")
        capacity = blockers.capacity_now(ctx.group, instance_id, ctx.execution_id, ctx.now).decision
        if not capacity.allowed:
            ctx.audit(capacity.skip_code, capacity.reason, checks=capacity.numbers())
            lifecycle.advance(record, "skip", {"reason": capacity.skip_code}, ctx.now, ctx.execution_id)
            raise CapacityLost(f"not deregistering {instance_id}: {capacity.reason}")
        registrations, delay = registrations_of(ctx.group.target_group_arns, instance_id)
        standby = enter_standby(instance_id) if ctx.group.auto_scaling.enabled else None
        planned = {"instance_id": instance_id, "target_groups": registrations, "at": ctx.now,
                   "delay_seconds": delay, "standby": standby}
        lifecycle.advance(record, "deregister", planned, ctx.now, ctx.execution_id, instance_id=instance_id)
    standby = planned.get("standby")
    # Standby first: the ASG must neither replace it (failed health checks while it reboots) nor register
    # it again behind our back. It deregisters it from the ASG's own target groups; we do all of them.
    if standby and send_standby(instance_id, standby, fresh):
        ctx.audit(Reason.STANDBY_ENTERED,
                  f"{instance_id} entered Standby in {standby['group']} "
                  + ("decrementing the desired capacity" if standby["decrement"] else
                     "without decrementing (MinSize forbids it): the ASG launches a replacement meanwhile"),
                  instance_id=instance_id, **standby)
    deregister_all(instance_id, planned["target_groups"])
    ctx.audit(Reason.DEREGISTERED,
              f"deregistered {instance_id} from {len(planned['target_groups'])} target group(s); "
              f"deregistration delay {planned['delay_seconds']} s",
              target_groups=[r["arn"] for r in planned["target_groups"]], delay_seconds=planned["delay_seconds"])
    return planned


handler = deregister_instance
