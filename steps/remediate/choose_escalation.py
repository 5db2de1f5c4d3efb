"""Step: the reboot did not heal it (or it was rebooted too often today): pick the next escalation rung.

Rungs come from the group's ``escalation.rungs``, each tried at most once per remediation (the lifecycle
record remembers them across Retries and replays). A rung chosen by an earlier execution counts as tried only
once AWS accepted its mutating call (the rung's own "sent" facts, or AWS's view proving the call took effect):
``replace`` once SetInstanceHealth was accepted (``put_back.being_replaced``), ``stop_start`` once a stop was
asked for (``stop_intended_at``: conservative, as the restore path may have started it again), ``leave_out``
never (it ends the remediation when it succeeds). So a replay tries again a rung whose calls were all refused,
and never sends a second accepted SetInstanceHealth, stop or start. A rung that cannot apply is skipped with its reason
(``replace`` needs an Auto Scaling group attached to every target group of the group). Destructive rungs
pass the capacity guard first; when it says no, or no rung is left, this fails into the restore path,
which puts the instance back and fails the execution (the failed-executions alarm pages).
"""

from __future__ import annotations

import json
from typing import Any

from steps.aws import autoscaling, ec2
from steps.core.config import RungSpec
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import CapacityLost, EscalationExhausted, LockLost
from steps.core.reasons import Reason
from steps.remediate import blockers, put_back
from steps.store import lifecycle, lock

DESTRUCTIVE = frozenset({"stop_start", "replace"})
LEASE_MARGIN_SECONDS = 900


def _first_rung(ctx: StepContext) -> str | None:
    """The rung the selection asked to start with (a failed system status check: stop/start), or None."""
    selection = ctx.state.selection
    return selection.first_rung if selection is not None else None


def _why(ctx: StepContext) -> str:
    error = ctx.state.error
    if ctx.state.escalation is None and error is None:
        first = _first_rung(ctx)
        capacity = ctx.state.capacity or {}
        if first is not None and capacity.get("first_rung") == first:
            return (f"chosen by {ctx.state.selection.criterion if ctx.state.selection else 'selection'} with "
                    f"first rung {first}: a reboot would not heal it")
        return "rebooted too often today: escalating instead of rebooting again"
    if error is not None:
        try:  # a Lambda error's Cause is the JSON of {errorType, errorMessage}
            message = str(json.loads(error.Cause).get("errorMessage", error.Cause))
        except (ValueError, AttributeError):
            message = error.Cause
        return f"{error.Error}: {message[:300]}"
    return "escalation requested"


def _cannot_apply(ctx: StepContext, rung: RungSpec, instance_id: str) -> str | None:
    if rung.action == "stop_start":
        root, lifecycle = ec2.stop_facts(instance_id)
        if root == "instance-store":
            return ("its root device is an instance store: EC2 cannot stop it (StopInstances would be refused), "
                    "only terminate it")
        if lifecycle == "spot":
            # One of a one-time request cannot be stopped at all; one of a persistent request (or a fleet) would
            # start again only when Spot capacity allows, with its request disabled meanwhile: never a heal we can
            # promise within a deadline. Every Spot Instance skips the rung (docs/design.md, "Spot Instances").
            return ("it is a Spot Instance: EC2 refuses to stop one of a one-time request, and one of a persistent "
                    "request starts again only when Spot capacity allows")
        return None
    if rung.action != "replace":
        return None
    member = autoscaling.membership(instance_id) if ctx.group.auto_scaling.enabled else None
    if member is None:
        return "not in an Auto Scaling group (or auto_scaling.enabled is false): nothing would replace it"
    attached = set(autoscaling.group_size(member.group).target_group_arns)
    missing = sorted(set(ctx.group.target_group_arns) - attached)
    if missing:
        return (f"Auto Scaling group {member.group} is not attached to {', '.join(missing)}: "
                "a replacement would not join every target group")
    return None


def _accepted(rung: str, facts: dict[str, Any], instance_id: str) -> bool:
    """Whether AWS accepted the mutating call of a rung an earlier execution chose (see the docstring)."""
    if rung == "replace":
        return put_back.being_replaced(instance_id, facts)
    if rung == "stop_start":
        progress = facts.get("stop_start") or {}
        return bool(progress.get("stop_intended_at") or progress.get("stop_sent_at"))
    return False  # leave_out: a success ends the remediation; a refusal changed nothing worth remembering


def _still_tried(ctx: StepContext, ladder: dict[str, Any], facts: dict[str, Any], instance_id: str) -> list[str]:
    """The rungs that count as tried: skipped ones, this execution's, and earlier ones AWS acted on."""
    chosen_by: dict[str, str] = dict(ladder.get("chosen_by") or {})
    tried: list[str] = []
    for action in ladder.get("tried", []):
        chooser = chosen_by.get(action)
        if chooser is None or chooser == ctx.execution_id or _accepted(action, facts, instance_id):
            tried.append(action)
        else:
            ctx.audit(Reason.ESCALATION_RUNG_RETRIED, f"rung {action} chosen by {chooser} is offered again for "
                      f"{instance_id}: AWS accepted none of its calls", instance_id=instance_id, rung=action,
                      chosen_by=chooser)
    return tried


def _extend_lease(ctx: StepContext, rung: RungSpec) -> None:
    """The ladder can outlast the lease taken at the start: renew it (an update conditional on owner = us, which
    keeps the slot's reservation)."""
    group = ctx.group
    lease = max(group.lock_lease_seconds,
                rung.deadline_seconds + group.boot.deadline_seconds + group.health.deadline_seconds
                + LEASE_MARGIN_SECONDS)
    renewal = lock.renew(ctx.lock_key, ctx.execution_id, ctx.now, lease)
    if not renewal.renewed:
        raise LockLost(f"the lock of {group.name} is held by {renewal.holder or 'nobody'}, not this execution")


@step
def choose_escalation(ctx: StepContext) -> dict[str, Any]:
    record = lifecycle.load(ctx.state.request.remediation_id)
    instance_id = ctx.require(record.instance_id or ctx.instance_id, "selection.instance_id",
                              "the ladder runs for a selected instance")
    ladder: dict[str, Any] = dict((record.facts or {}).get("escalate") or {})
    # A Retry of this very decision (same execution, same point in the ladder) returns what was decided.
    token = f"{ctx.execution_id}#{len(ctx.state.escalation.tried) if ctx.state.escalation else 0}"
    if ladder.get("token") == token and record.state == "escalating":
        return dict(ladder["decision"])
    tried = _still_tried(ctx, ladder, record.facts or {}, instance_id)
    chosen_by = {a: e for a, e in dict(ladder.get("chosen_by") or {}).items() if a in tried}
    why = _why(ctx)
    rungs = list(ctx.group.escalation.rungs)
    first = _first_rung(ctx)
    if first is not None:
        # The selection's first rung (a failed system status check: stop/start) comes first when the ladder has
        # it; a rung that cannot apply is skipped as always, and the ladder's order applies after it.
        rungs.sort(key=lambda r: r.action != first)
    for rung in rungs:
        if rung.action in tried:
            continue
        reason = _cannot_apply(ctx, rung, instance_id)
        if reason:
            tried.append(rung.action)
            ctx.audit(Reason.ESCALATION_RUNG_SKIPPED, f"rung {rung.action} skipped for {instance_id}: {reason}",
                      instance_id=instance_id, rung=rung.action)
            continue
        if rung.action in DESTRUCTIVE:
            shared = blockers.serves_another_group(ctx.group, instance_id)
            if shared:
                refused = f"not escalating {instance_id} to {rung.action}: {shared}"
                ctx.audit(Reason.SKIPPED_SHARED, refused, instance_id=instance_id, rung=rung.action)
                raise CapacityLost(refused)
            capacity = blockers.capacity_now(ctx.group, instance_id, ctx.execution_id, ctx.now).decision
            if not capacity.allowed:
                ctx.audit(capacity.skip_code, f"not escalating {instance_id} to {rung.action}: {capacity.reason}",
                          instance_id=instance_id, checks=capacity.numbers(), rung=rung.action)
                raise CapacityLost(f"not escalating {instance_id} to {rung.action}: {capacity.reason}")
        _extend_lease(ctx, rung)
        tried.append(rung.action)
        chosen_by[rung.action] = ctx.execution_id
        decision = {"rung": rung.action, "deadline_seconds": rung.deadline_seconds, "started_at": ctx.now,
                    "tried": tried, "reason": why}
        lifecycle.advance(record, "escalate", {"tried": tried, "chosen_by": chosen_by, "token": token,
                                               "decision": decision}, ctx.now, ctx.execution_id)
        ctx.audit(Reason.ESCALATING, f"{instance_id}: {why} -> rung {len(tried)} `{rung.action}` "
                  f"(deadline {rung.deadline_seconds} s)", instance_id=instance_id, rung=rung.action,
                  deadline_seconds=rung.deadline_seconds, tried=tried, cause=why)
        return decision
    ctx.audit(Reason.ESCALATION_EXHAUSTED, f"{instance_id}: {why}; no escalation rung left (tried: "
              f"{', '.join(tried) or 'none'}): putting it back in service and paging", instance_id=instance_id,
              tried=tried)
    raise EscalationExhausted(
        f"{instance_id} not healed and no escalation rung left (tried: {', '.join(tried) or 'none'})")


handler = choose_escalation
