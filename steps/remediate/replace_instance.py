"""Step (escalation rung ``replace``): one check of a poll loop in which the instance's Auto Scaling group
terminates and replaces it (the seed's approach: SetInstanceHealth Unhealthy).

The instance leaves Standby first (the ASG ignores the health of instances on standby). The rung is done
when the old instance is terminating or gone and a new instance is healthy in every target group of the
group. ``mark_intended_at`` is written ahead of the SetInstanceHealth call (the restore path then checks
whether the ASG is replacing it, and never registers an instance its ASG is terminating);
``marked_sent_at`` only once Auto Scaling accepted the call, or once its own view proves it did (the
instance is Unhealthy, Terminating or gone although the answer was lost). So a throttled call is sent again
by the Retry, and an accepted one is never sent twice.
"""

from __future__ import annotations

from typing import Any

from steps.aws import autoscaling, elbv2
from steps.core.entrypoint import StepContext, step
from steps.core.events import EscalationChoice
from steps.core.exceptions import AwsThrottled, LifecycleConflict, RungTimedOut
from steps.core.reasons import Reason
from steps.domain import poll_reads, replacement, waits
from steps.remediate import lease, polls
from steps.store import lifecycle

POLL_SECONDS = 15


def _save(record: lifecycle.RemediationRecord, progress: dict[str, Any]) -> None:
    record.facts = {**(record.facts or {}), "replace": progress}
    lifecycle.save_facts(record)


@step
def replace_instance(ctx: StepContext) -> dict[str, Any]:
    # before any AWS call: never mark an instance of a group we lost. A termination drain of this instance does not
    # stop the rung once it asked for the termination (the hook runs for it too): the group replaces it either
    # way. Terminating before that, it stops (below).
    lease.keep(ctx, POLL_SECONDS, terminating_is_the_goal=True)
    return _replace(ctx)


def _stop_unless_asked(progress: dict[str, Any], instance_id: str) -> None:
    """Terminating before this rung asked for it (a scale-in, a Spot interruption): no replacement is coming, stop
    (InstanceTerminating)."""
    if not progress.get("mark_intended_at"):
        lease.stop_if_terminating(instance_id)


def _replace(ctx: StepContext) -> dict[str, Any]:
    escalation = ctx.require_rung("replace")
    record = lifecycle.load(ctx.state.request.remediation_id)
    instance_id = str(record.instance_id or ctx.instance_id)
    if record.state == "replaced":
        return {"done": True, "phase": "replaced", "wait_seconds": 0}
    if record.state != "escalating":
        raise LifecycleConflict(f"cannot replace {instance_id} in lifecycle state {record.state}")
    arns = ctx.group.target_group_arns
    progress: dict[str, Any] = dict((record.facts or {}).get("replace") or {})
    _stop_unless_asked(progress, instance_id)
    elapsed = ctx.now - escalation.started_at
    try:
        if "known" not in progress:
            # What is there before the replacement: read from AWS itself, never a shared reading (polls.py).
            states = elbv2.group_target_states(arns)
            progress["known"] = sorted({i for members in states.values() for i in members} | {instance_id})
            _save(record, progress)
        member = autoscaling.membership(instance_id)
    except AwsThrottled as exc:
        polls.no_reading(ctx, "DescribeTargetHealth / DescribeAutoScalingInstances", exc)
        return _not_yet(ctx, escalation, instance_id, elapsed, "no reading (throttled)", "waiting")
    phase = "waiting"
    intended = bool(progress.get("mark_intended_at"))
    if not progress.get("marked_sent_at") and replacement.mark_in_effect(member, intended):
        progress["marked_sent_at"] = ctx.now  # accepted earlier; its answer was lost
        _save(record, progress)
    if not progress.get("marked_sent_at"):
        if member is None:
            raise RungTimedOut(f"{instance_id} is no longer in an Auto Scaling group: nothing will replace it")
        if member.lifecycle_state == autoscaling.STANDBY:
            autoscaling.exit_standby(member.group, instance_id)
            ctx.audit(Reason.STANDBY_EXITED, f"{instance_id} left Standby so that {member.group} acts on its health",
                      instance_id=instance_id)
            member = autoscaling.membership(instance_id)
        if member is not None and member.lifecycle_state == autoscaling.IN_SERVICE:
            progress["mark_intended_at"] = progress.get("mark_intended_at") or ctx.now
            _save(record, progress)
            autoscaling.mark_unhealthy(instance_id)  # a throttle or failure raises: the Retry sends it again
            progress["marked_sent_at"] = ctx.now
            _save(record, progress)
            ctx.audit(Reason.MARKED_UNHEALTHY, f"marked {instance_id} Unhealthy in {member.group}: it terminates it "
                      "and launches a replacement", instance_id=instance_id, asg=member.group)
            member = autoscaling.membership(instance_id)
        phase = "marked" if progress.get("marked_sent_at") else "leaving standby"
    if progress.get("marked_sent_at"):
        return _replaced(ctx, escalation, record, progress, member, elapsed)
    return _not_yet(ctx, escalation, instance_id, elapsed, _lifecycle(member), phase)


def _replaced(ctx: StepContext, escalation: EscalationChoice, record: lifecycle.RemediationRecord,
              progress: dict[str, Any], member: autoscaling.Membership | None, elapsed: float) -> dict[str, Any]:
    """Marked: done once the old instance is leaving and a new one is healthy in every target group."""
    instance_id = str(record.instance_id or ctx.instance_id)
    try:
        # Shared with the group's other polls (polls.py): a reading taken since the mark; past the deadline, AWS
        # afresh.
        readings = polls.target_groups(ctx.group.target_group_arns, poll_seconds=POLL_SECONDS,
                                       not_before=float(progress["marked_sent_at"]), owner=ctx.execution_id,
                                       fresh=waits.expired(elapsed, escalation.deadline_seconds))
    except AwsThrottled as exc:
        polls.no_reading(ctx, "DescribeTargetHealth", exc)
        return _not_yet(ctx, escalation, instance_id, elapsed, _lifecycle(member), "replacing")
    states = {arn: poll_reads.states_by_instance(found) for arn, found in readings.items()}
    healthy_everywhere = set.intersection(*({i for i, s in m.items() if s == "healthy"} for m in states.values()))
    new = sorted(healthy_everywhere - set(progress["known"]))
    old_leaving = member is None or member.lifecycle_state.startswith("Terminat")
    if new and old_leaving:
        lifecycle.advance(record, "replace", {"replacement": new[0], "seconds": round(elapsed, 3)}, ctx.now,
                          ctx.execution_id)
        ctx.audit(Reason.REPLACED, f"{instance_id} was replaced by {new[0]}, healthy in every target group "
                  f"{elapsed:.0f} s into the rung", instance_id=instance_id, replacement=new[0],
                  seconds=round(elapsed, 3))
        return {"done": True, "phase": "replaced", "replacement": new[0], "wait_seconds": 0}
    return _not_yet(ctx, escalation, instance_id, elapsed, _lifecycle(member), "replacing")


def _lifecycle(member: autoscaling.Membership | None) -> str:
    return member.lifecycle_state if member else "gone"


def _not_yet(ctx: StepContext, escalation: EscalationChoice, instance_id: str, elapsed: float, seen: str,
             phase: str) -> dict[str, Any]:
    """Not replaced yet: give up at the rung's deadline, else poll again."""
    if waits.expired(elapsed, escalation.deadline_seconds):
        ctx.audit(Reason.RUNG_TIMED_OUT, f"{instance_id} not replaced {elapsed:.0f} s into the rung (deadline "
                  f"{escalation.deadline_seconds} s; lifecycle {seen})", instance_id=instance_id, rung="replace",
                  elapsed_seconds=round(elapsed, 3))
        raise RungTimedOut(f"{instance_id} not replaced after {elapsed:.0f} s")
    wait = waits.next_wait(POLL_SECONDS, elapsed, escalation.deadline_seconds)
    return {"done": False, "phase": phase, "wait_seconds": wait}


handler = replace_instance
