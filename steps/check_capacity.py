"""Step: may this instance leave service now? Blockers first (paused group, storm breaker, exclude tag,
blocking alarms, maintenance window, cooldowns, Auto Scaling state and activity), then healthy targets
after removal in every target group; and whether to reboot or, after too many reboots today, escalate.
Also where a dry run stops: it records the plan with all the numbers and changes nothing."""

from __future__ import annotations

from typing import Any

from steps import guards
from steps.entrypoint import StepContext, step
from steps.store import lifecycle


@step
def check_capacity(ctx: StepContext) -> dict[str, Any]:
    instance_id = ctx.require(ctx.instance_id, "selection.instance_id",
                              "the state machine only checks capacity for a selected instance")
    group = ctx.group
    capacity = guards.capacity_now(group, instance_id)
    decision = capacity.decision
    facts = guards.gather(group, instance_id)
    found = guards.blocks(group, facts)
    numbers: dict[str, Any] = {"checks": decision.numbers(), "min_healthy": group.min_healthy,
                               "min_healthy_percent": group.min_healthy_percent, "per_az": group.per_az,
                               "blockers": [{"code": b.code, "reason": b.reason, **b.numbers} for b in found]}
    reboots_today = guards.reboots_in(facts, guards.DAY_SECONDS)
    limit = group.escalation.max_reboots_per_day
    # Rebooted too often today: a reboot is not curing it. Drain, then go straight to the escalation ladder.
    plan = "escalate" if reboots_today >= limit and group.escalation.rungs else "reboot"
    numbers.update(plan=plan, reboots_last_24h=reboots_today, max_reboots_per_day=limit)
    allowed = decision.allowed and not found
    code = found[0].code if found else ("CAPACITY_OK" if decision.allowed else "SKIPPED_CAPACITY")
    reason = "; ".join([b.reason for b in found] + [decision.reason])
    record = lifecycle.load(ctx.state.request.remediation_id)
    if ctx.state.request.dry_run:
        verdict = ("would deregister, drain, reboot and re-register" if plan == "reboot" else
                   f"would deregister, drain and escalate ({reboots_today} reboots in 24 h, limit {limit})")
        verdict = verdict if allowed else f"would skip ({code})"
        ctx.audit("DRY_RUN", f"dry run: {verdict} {instance_id}; {reason}", **numbers, allowed=allowed)
        if record.state == "selected":
            lifecycle.advance(record, "plan", {"allowed": allowed, "code": code}, ctx.now, ctx.execution_id)
        return {"allowed": allowed, "dry_run": True, "code": code, "reason": reason, "plan": plan}
    for block in found:
        ctx.audit(block.code, block.reason, **block.numbers)
    if not allowed:
        if decision.allowed is False:
            ctx.audit("SKIPPED_CAPACITY", decision.reason, **numbers)
        if record.state == "selected":
            lifecycle.advance(record, "skip", {"reason": code}, ctx.now, ctx.execution_id)
        return {"allowed": False, "dry_run": False, "code": code, "reason": reason, "plan": plan}
    ctx.audit("CAPACITY_OK", decision.reason, **numbers)
    if plan == "escalate":
        ctx.audit("REBOOT_LIMIT_REACHED", f"{instance_id} was rebooted {reboots_today} times in the last 24 h "
                  f"(limit {limit}): after the drain it goes to the escalation ladder instead of a reboot",
                  reboots_last_24h=reboots_today, max_reboots_per_day=limit)
    return {"allowed": True, "dry_run": False, "code": code, "reason": reason, "plan": plan}


handler = check_capacity
