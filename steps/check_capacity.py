"""Step: may this instance leave service now? Healthy targets after removal, in every target group.

Also where a dry run stops: it records the plan with all the numbers and changes nothing.
"""

from __future__ import annotations

from typing import Any

from steps.aws import ec2, elbv2
from steps.domain.capacity import healthy_after_removal
from steps.entrypoint import StepContext, step
from steps.store import lifecycle


@step
def check_capacity(ctx: StepContext) -> dict[str, Any]:
    instance_id = ctx.instance_id
    assert instance_id, "the state machine only checks capacity for a selected instance"
    group = ctx.group
    states = elbv2.group_target_states(group.target_group_arns)
    zones = None
    if group.per_az:
        zones = ec2.availability_zones({i for members in states.values() for i in members})
    decision = healthy_after_removal(states, instance_id, group.min_healthy, group.min_healthy_percent, zones)
    numbers: dict[str, Any] = {"checks": decision.numbers(), "min_healthy": group.min_healthy,
               "min_healthy_percent": group.min_healthy_percent, "per_az": group.per_az}
    record = lifecycle.load(ctx.state.request.remediation_id)
    if ctx.state.request.dry_run:
        verdict = "would deregister, drain, reboot and re-register" if decision.allowed else "would skip"
        ctx.audit("DRY_RUN", f"dry run: {verdict} {instance_id}; {decision.reason}", **numbers,
                  allowed=decision.allowed)
        if record.state == "selected":
            lifecycle.advance(record, "plan", {"allowed": decision.allowed}, ctx.now, ctx.execution_id)
        return {"allowed": decision.allowed, "dry_run": True, "reason": decision.reason}
    if not decision.allowed:
        ctx.audit("SKIPPED_CAPACITY", decision.reason, **numbers)
        if record.state == "selected":
            lifecycle.advance(record, "skip", {"reason": "capacity"}, ctx.now, ctx.execution_id)
        return {"allowed": False, "dry_run": False, "reason": decision.reason}
    ctx.audit("CAPACITY_OK", decision.reason, **numbers)
    return {"allowed": True, "dry_run": False, "reason": decision.reason}


handler = check_capacity
