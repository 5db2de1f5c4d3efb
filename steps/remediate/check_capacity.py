"""Step: may this instance leave service now? Blockers first (paused group, storm breaker, exclude tag,
blocking alarms, maintenance window, cooldowns, Auto Scaling state and activity), then healthy targets
after removal in every target group; and whether to reboot or, after too many reboots today, escalate.
Also where a dry run stops: it records the plan with all the numbers and changes nothing."""

from __future__ import annotations

from typing import Any

from steps.core.entrypoint import StepContext, step
from steps.core.reasons import Reason
from steps.domain import admission
from steps.remediate import blockers
from steps.store import lifecycle


@step
def check_capacity(ctx: StepContext) -> dict[str, Any]:
    instance_id = ctx.require(ctx.instance_id, "selection.instance_id",
                              "the state machine only checks capacity for a selected instance")
    group = ctx.group
    capacity = blockers.capacity_now(group, instance_id)
    decision = capacity.decision
    facts = blockers.Context(group, instance_id)
    found = blockers.blocks(group, facts)
    numbers: dict[str, Any] = {"checks": decision.numbers(), "min_healthy": group.min_healthy,
                               "min_healthy_percent": group.min_healthy_percent, "per_az": group.per_az,
                               "blockers": [{"code": b.code, "reason": b.reason, **b.numbers} for b in found]}
    selection = ctx.state.selection
    first_rung = selection.first_rung if selection is not None else None
    verdict = admission.decide(decision, found, blockers.reboots_in(facts, blockers.DAY_SECONDS),
                               group.escalation.max_reboots_per_day, bool(group.escalation.rungs), first_rung)
    allowed, code, reason, plan = verdict.allowed, verdict.code, verdict.reason, verdict.plan
    reboots_today, limit = verdict.reboots_today, verdict.max_reboots_per_day
    numbers.update(plan=plan, reboots_last_24h=reboots_today, max_reboots_per_day=limit)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if ctx.state.request.dry_run:
        ctx.audit(Reason.DRY_RUN, f"dry run: {verdict.dry_run_sentence()} {instance_id}; {reason}", **numbers,
                  allowed=allowed)
        if record.state == "selected":
            lifecycle.advance(record, "plan", {"allowed": allowed, "code": code}, ctx.now, ctx.execution_id)
        return {"allowed": allowed, "dry_run": True, "code": code, "reason": reason, "plan": plan,
                **({"first_rung": verdict.first_rung} if verdict.first_rung else {})}
    for block in found:
        ctx.audit(block.code, block.reason, **block.numbers)
    if not allowed:
        if decision.allowed is False:
            ctx.audit(decision.skip_code, decision.reason, **numbers)
        if record.state == "selected":
            lifecycle.advance(record, "skip", {"reason": code}, ctx.now, ctx.execution_id)
        return {"allowed": False, "dry_run": False, "code": code, "reason": reason, "plan": plan}
    ctx.audit(Reason.CAPACITY_OK, decision.reason, **numbers)
    if plan == admission.ESCALATE and reboots_today < limit:
        return {"allowed": True, "dry_run": False, "code": code, "reason": reason, "plan": plan,
                "first_rung": verdict.first_rung}
    if plan == admission.ESCALATE:
        ctx.audit(Reason.REBOOT_LIMIT_REACHED, f"{instance_id} was rebooted {reboots_today} times in the last 24 h "
                  f"(limit {limit}): after the drain it goes to the escalation ladder instead of a reboot",
                  reboots_last_24h=reboots_today, max_reboots_per_day=limit)
    return {"allowed": True, "dry_run": False, "code": code, "reason": reason, "plan": plan}


handler = check_capacity
