"""Step (escalation rung ``stop_start``): one check of a poll loop that stops the instance and starts it on
a new host, then hands it to registration and the health checks again.

Why no second drain: it is here because it failed its boot or health deadline, so the load balancer has
not sent it new requests for minutes (it would only fail open if every target were unhealthy, which the
capacity guard rules out). It is taken out of every target group first all the same, so nothing is sent
to it while it stops.

Each request is decided from what EC2 reports, never from an intention: ``stop_sent_at`` /
``start_sent_at`` are recorded only once EC2 accepted the call, or once EC2's own state shows it was
accepted (a crash or a lost answer right after a successful call: the instance is already ``stopping``,
``stopped`` — or ``pending``/``running`` again after a stop). So a throttled or failed call is sent again
by the Retry, and an accepted one is never sent twice (at most one StopInstances and one StartInstances
per remediation, counted at the API).
"""

from __future__ import annotations

from typing import Any

from steps.aws import ec2, elbv2
from steps.core.entrypoint import StepContext, step
from steps.core.events import EscalationChoice
from steps.core.exceptions import AwsThrottled, LifecycleConflict, RungTimedOut
from steps.core.reasons import Reason
from steps.domain import stop_start, waits
from steps.domain.lifecycle import already_past
from steps.remediate import lease, polls
from steps.store import lifecycle

POLL_SECONDS = 10


def _save(record: lifecycle.RemediationRecord, progress: dict[str, Any]) -> None:
    record.facts = {**(record.facts or {}), "stop_start": progress}
    lifecycle.save_facts(record)


@step
def stop_start_instance(ctx: StepContext) -> dict[str, Any]:
    escalation = ctx.require_rung("stop_start")
    lease.keep(ctx, POLL_SECONDS)  # before any AWS call: never stop or start an instance of a group we lost
    record = lifecycle.load(ctx.state.request.remediation_id)
    deregistration = (record.facts or {}).get("deregister") or {}
    instance_id = deregistration.get("instance_id") or record.instance_id
    if already_past(record.state, "restart"):
        return {"done": True, "phase": "started", "wait_seconds": 0}  # a Retry after the rung finished
    if record.state != "escalating":
        raise LifecycleConflict(f"cannot stop/start {instance_id} in lifecycle state {record.state}")
    progress: dict[str, Any] = dict((record.facts or {}).get("stop_start") or {})
    elapsed = ctx.now - escalation.started_at
    try:
        state, status_ok, seen = ec2.power(instance_id)
    except AwsThrottled as exc:
        # No reading this turn: nothing is sent without one (every request is decided from what EC2 reports).
        polls.no_reading(ctx, "DescribeInstanceStatus", exc)
        return _not_yet(ctx, escalation, instance_id, elapsed, progress, "no reading (throttled)")
    plan = stop_start.next_action(stop_start.Progress.of(progress), state)
    if plan.record:
        progress.update({key: ctx.now for key in plan.record})
        _save(record, progress)
    if plan.action == stop_start.STOP:
        for registration in deregistration.get("target_groups", []):
            elbv2.deregister(registration["arn"], instance_id, registration.get("port"))
        # Write-ahead for the restore path and the reconciler only (a stop may be in effect: start it again);
        # it never decides whether to send.
        progress["stop_intended_at"] = progress.get("stop_intended_at") or ctx.now
        _save(record, progress)
        ec2.stop_instance(instance_id)  # a throttle or failure raises: nothing recorded, the Retry sends it
        progress["stop_sent_at"] = ctx.now
        _save(record, progress)
        ctx.audit(Reason.STOP_REQUESTED, f"asked EC2 to stop {instance_id} (escalation: a new host after start)",
                  instance_id=instance_id, stop_sent_at=progress["stop_sent_at"])
        status_ok, seen = False, "stop requested"
    elif plan.action == stop_start.START:
        ec2.start_instance(instance_id)
        progress["start_sent_at"] = ctx.now
        _save(record, progress)
        ctx.audit(Reason.START_REQUESTED, f"{instance_id} stopped {ctx.now - progress['stop_sent_at']:.0f} s "
                  "after the request; asked EC2 to start it", instance_id=instance_id,
                  stopped_after_seconds=round(ctx.now - progress["stop_sent_at"], 3),
                  start_sent_at=progress["start_sent_at"])
        status_ok, seen = False, "start requested"  # it boots for a while: the next poll looks
    if progress.get("start_sent_at") and status_ok:
        result = {"stop_sent_at": progress["stop_sent_at"], "start_sent_at": progress["start_sent_at"],
                  "seconds": round(elapsed, 3)}
        lifecycle.advance(record, "restart", result, ctx.now, ctx.execution_id)
        ctx.audit(Reason.STOP_STARTED, f"{instance_id} stopped and started again ({seen}) {elapsed:.0f} s into the "
                  "rung; registering it", instance_id=instance_id, seconds=round(elapsed, 3))
        return {"done": True, "phase": "started", "wait_seconds": 0, "seen": seen}
    return _not_yet(ctx, escalation, instance_id, elapsed, progress, seen)


def _not_yet(ctx: StepContext, escalation: EscalationChoice, instance_id: str, elapsed: float,
             progress: dict[str, Any], seen: str) -> dict[str, Any]:
    """Not stopped and started yet: give up at the rung's deadline, else poll again."""
    if waits.expired(elapsed, escalation.deadline_seconds):
        ctx.audit(Reason.RUNG_TIMED_OUT, f"stop/start of {instance_id} not done {elapsed:.0f} s into the rung "
                  f"(deadline {escalation.deadline_seconds} s): {seen}", instance_id=instance_id, rung="stop_start",
                  elapsed_seconds=round(elapsed, 3), seen=seen)
        raise RungTimedOut(f"stop/start of {instance_id} not done after {elapsed:.0f} s: {seen}")
    phase = "starting" if progress.get("start_sent_at") else "stopping"
    wait = waits.next_wait(POLL_SECONDS, elapsed, escalation.deadline_seconds)
    return {"done": False, "phase": phase, "wait_seconds": wait, "seen": seen}


handler = stop_start_instance
