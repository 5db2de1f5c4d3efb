"""Step: may this instance leave service now? Blockers first (paused group, storm breaker, exclude tag,
blocking alarms, maintenance window, cooldowns), then healthy targets after removal in every target
group. Also where a dry run stops: it records the plan with all the numbers and changes nothing."""

from __future__ import annotations

from typing import Any

from steps import guards
from steps.entrypoint import StepContext, step
from steps.store import lifecycle


@step
def check_capacity(ctx: StepContext) -> dict[str, Any]:
    instance_id = ctx.instance_id
    assert instance_id, "the state machine only checks capacity for a selected instance"
    group = ctx.group
    capacity = guards.capacity_now(group, instance_id)
    decision = capacity.decision
    found = guards.blocks(group, instance_id)
    numbers: dict[str, Any] = {"checks": decision.numbers(), "min_healthy": group.min_healthy,
                               "min_healthy_percent": group.min_healthy_percent, "per_az": group.per_az,
                               "blockers": [{"code": b.code, "reason": b.reason, **b.numbers} for b in found]}
    allowed = decision.allowed and not found
    code = found[0].code if found else ("CAPACITY_OK" if decision.allowed else "SKIPPED_CAPACITY")
    reason = "; ".join([b.reason for b in found] + [decision.reason])
    record = lifecycle.load(ctx.state.request.remediation_id)
    if ctx.state.request.dry_run:
        verdict = "would deregister, drain, reboot and re-register" if allowed else f"would skip ({code})"
        ctx.audit("DRY_RUN", f"dry run: {verdict} {instance_id}; {reason}", **numbers, allowed=allowed)
        if record.state == "selected":
            lifecycle.advance(record, "plan", {"allowed": allowed, "code": code}, ctx.now, ctx.execution_id)
        return {"allowed": allowed, "dry_run": True, "code": code, "reason": reason}
    for block in found:
        ctx.audit(block.code, block.reason, **block.numbers)
    if not allowed:
        if decision.allowed is False:
            ctx.audit("SKIPPED_CAPACITY", decision.reason, **numbers)
        if record.state == "selected":
            lifecycle.advance(record, "skip", {"reason": code}, ctx.now, ctx.execution_id)
        return {"allowed": False, "dry_run": False, "code": code, "reason": reason}
    ctx.audit("CAPACITY_OK", decision.reason, **numbers)
    return {"allowed": True, "dry_run": False, "code": code, "reason": reason}


handler = check_capacity
