"""Step: may this instance leave service now? Blockers first (paused group, storm breaker, exclude tag,
blocking alarms, maintenance window, cooldowns, Auto Scaling state and activity), then healthy targets
after removal in every target group, counting every instance the group's other remediations reserved as gone
already, then the group's and the account's in-flight limits; and whether to reboot or, after too many reboots
today, escalate. Allowed: the instance is *reserved* in the same atomic write that checks no other reservation
came first (steps/store/ledger.py; docs/design.md "Several at once"). Also where a dry run stops: it records the
plan with all the numbers, reserves nothing and changes nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from steps.core import groups
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import NightshiftError
from steps.core.reasons import Reason
from steps.domain import admission
from steps.domain.admission import Verdict
from steps.domain.blockers import Block
from steps.domain.capacity import CapacityDecision
from steps.domain.in_flight import Limits, Refusal, refuse, reserved_instances, resolve
from steps.remediate import blockers
from steps.store import ledger, lifecycle
from steps.store.ledger import GroupView


@dataclass
class _Decided:
    found: list[Block]
    reboots_today: int
    decision: CapacityDecision | None = None
    verdict: Verdict | None = None
    refusal: Refusal | None = None
    numbers: dict[str, Any] | None = None
    limits: Limits | None = None
    others_out: int = 0  # the group's other reservations the decision saw
    account_out: int = 0  # the account's


# Who may start the next remediation of the group (docs/design.md "Several at once: the cascade"): the sweep's
# and a person's starts that name no instance. An alarm's names its instance (or is proven by its claim).
CASCADING_TRIGGERS = frozenset({"schedule", "manual"})


def _cascade(ctx: StepContext, decided: _Decided) -> dict[str, Any]:
    """With max_in_flight above 1, a remediation let out of service starts the next one of its group right away
    when a slot remains (``fan_out``), and, once healed, starts one after itself (``successor``): each selects
    the next worst instance, until one finds nothing, or is refused. Deterministic names: a Retry or a redrive
    of the start cannot start two."""
    request, limits = ctx.state.request, decided.limits
    if (limits is None or limits.group_max <= 1 or request.instance_id or request.replay_of
            or request.trigger not in CASCADING_TRIGGERS or request.dry_run):
        return {"fan_out": False, "successor": False}
    room = decided.others_out + 1 < limits.group_max and (
        limits.account_max is None or decided.account_out + 1 < limits.account_max)
    digest = hashlib.sha256(ctx.execution_id.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9-_]", "-", ctx.group.name)[:40]
    name = ctx.execution_id.rsplit(":", 1)[-1]
    return {"fan_out": room, "successor": True, "next_name": f"next-{slug}-{digest}",
            "after_name": f"after-{slug}-{digest}", "next_delay": ctx.group.cascade_interval_seconds,
            "next_reason": f"next remediation of {ctx.group.name}, started by {name} (max_in_flight "
                           f"{ctx.group.in_flight.text()})"}


def _decide_and_reserve(ctx: StepContext, instance_id: str) -> _Decided:
    """Read AWS once, then decide against the ledger and, when allowed and not a dry run, reserve the instance in
    the same atomic write (decided again whenever another reservation overtakes this one)."""
    group = ctx.group
    account = groups.load().account
    snap = blockers.snapshot(group)
    zone = (snap.zones or {}).get(instance_id)
    limits = resolve(group.in_flight, group.in_flight_per_az, account.max_in_flight, account.max_per_hour,
                     snap.registered, snap.registered_in_zone(zone))
    facts = blockers.Context(group, instance_id, snap.registered)
    found = blockers.blocks(group, facts)
    reboots_today = blockers.reboots_in(facts, blockers.DAY_SECONDS)
    selection = ctx.state.selection
    first_rung = selection.first_rung if selection is not None else None
    dry_run = ctx.state.request.dry_run
    decided = _Decided(found=found, reboots_today=reboots_today)

    def decide(view: GroupView) -> Refusal | str | None:
        """None: reserve; otherwise why not (a Refusal of the limits, or "no" when the verdict refuses)."""
        decision = blockers.decide(group, snap, instance_id, reserved_instances(view.others))
        verdict = admission.decide(decision, found, reboots_today, group.escalation.max_reboots_per_day,
                                   bool(group.escalation.rungs), first_rung)
        refusal = refuse(instance_id, zone, view.others, view.account_others, view.recent_starts, limits, ctx.now)
        decided.decision, decided.verdict, decided.refusal = decision, verdict, refusal
        decided.limits = limits
        decided.others_out = len([h for h in view.others if h.out_of_service])
        decided.account_out = len([h for h in view.account_others if h.out_of_service])
        decided.numbers = {"in_flight": [h.instance for h in view.others if h.out_of_service],
                           "max_in_flight": limits.group_max, **({"refusal": refusal.numbers} if refusal else {})}
        if refusal is not None:
            return refusal
        return "no" if dry_run or not verdict.allowed else None

    slot_count = group.in_flight.of(snap.registered)
    if not ledger.needed(group.name, ctx.lock_key, group.in_flight.count, account.limited):
        decide(GroupView(version=0, registered=None, seen_slots=1, others=[]))
    elif dry_run:
        decide(ledger.read(group.name, ctx.execution_id, slot_count, ctx.now, account.limited))
    else:
        ledger.reserve(group.name, ctx.lock_key, ctx.execution_id, instance_id, zone, ctx.now, slot_count,
                       account.limited, snap.registered, decide)
    return decided


@step
def check_capacity(ctx: StepContext) -> dict[str, Any]:
    instance_id = ctx.require(ctx.instance_id, "selection.instance_id",
                              "the state machine only checks capacity for a selected instance")
    group = ctx.group
    decided = _decide_and_reserve(ctx, instance_id)
    found, reboots_today, dry_run = decided.found, decided.reboots_today, ctx.state.request.dry_run
    decision, verdict, refusal = decided.decision, decided.verdict, decided.refusal
    if decision is None or verdict is None:  # decide() runs before reserve() returns or raises
        raise NightshiftError("check_capacity: the capacity ledger returned without a decision")
    numbers: dict[str, Any] = {"checks": decision.numbers(), "min_healthy": group.min_healthy,
                               "min_healthy_percent": group.min_healthy_percent, "per_az": group.per_az,
                               "blockers": [{"code": b.code, "reason": b.reason, **b.numbers} for b in found],
                               **(decided.numbers or {})}
    allowed, code, reason, plan = verdict.allowed and refusal is None, verdict.code, verdict.reason, verdict.plan
    if verdict.allowed and refusal is not None:
        code, reason = refusal.code, refusal.reason
    limit = verdict.max_reboots_per_day
    numbers.update(plan=plan, reboots_last_24h=reboots_today, max_reboots_per_day=limit)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if dry_run:
        sentence = verdict.dry_run_sentence() if refusal is None or not verdict.allowed else f"would skip ({code})"
        ctx.audit(Reason.DRY_RUN, f"dry run: {sentence} {instance_id}; {reason}", **numbers, allowed=allowed)
        if record.state == "selected":
            lifecycle.advance(record, "plan", {"allowed": allowed, "code": code}, ctx.now, ctx.execution_id)
        return {"allowed": allowed, "dry_run": True, "code": code, "reason": reason, "plan": plan,
                **({"first_rung": verdict.first_rung} if verdict.first_rung and allowed else {})}
    for block in found:
        ctx.audit(block.code, block.reason, **block.numbers)
    if not allowed:
        if decision.allowed is False:
            ctx.audit(decision.skip_code, decision.reason, **numbers)
        elif refusal is not None and not found:
            ctx.audit(refusal.code, refusal.reason, **numbers)
        if record.state == "selected":
            lifecycle.advance(record, "skip", {"reason": code}, ctx.now, ctx.execution_id)
        return {"allowed": False, "dry_run": False, "code": code, "reason": reason, "plan": plan}
    ctx.audit(Reason.CAPACITY_OK, decision.reason, **numbers)
    cascade = _cascade(ctx, decided)
    if plan == admission.ESCALATE and reboots_today < limit:
        return {"allowed": True, "dry_run": False, "code": code, "reason": reason, "plan": plan,
                "first_rung": verdict.first_rung, "cascade": cascade}
    if plan == admission.ESCALATE:
        ctx.audit(Reason.REBOOT_LIMIT_REACHED, f"{instance_id} was rebooted {reboots_today} times in the last 24 h "
                  f"(limit {limit}): after the drain it goes to the escalation ladder instead of a reboot",
                  reboots_last_24h=reboots_today, max_reboots_per_day=limit)
    return {"allowed": True, "dry_run": False, "code": code, "reason": reason, "plan": plan, "cascade": cascade}


handler = check_capacity
