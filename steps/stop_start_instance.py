"""Step (escalation rung ``stop_start``): one check of a poll loop that stops the instance and starts it on
a new host, then hands it to registration and the health checks again.

Why no second drain: it is here because it failed its boot or health deadline, so the load balancer has
not sent it new requests for minutes (it would only fail open if every target were unhealthy, which the
capacity guard rules out). It is taken out of every target group first all the same, so nothing is sent
to it while it stops. Write-ahead: each request is recorded before it is made; StopInstances and
StartInstances are idempotent, so a Retry or replay repeats them harmlessly.
"""

from __future__ import annotations

from typing import Any

from steps.aws import ec2, elbv2
from steps.entrypoint import StepContext, step
from steps.exceptions import LifecycleConflict, RungTimedOut
from steps.store import lifecycle

POLL_SECONDS = 10


@step
def stop_start_instance(ctx: StepContext) -> dict[str, Any]:
    escalation = ctx.state.escalation
    assert escalation and escalation.rung == "stop_start", "runs as the stop_start rung"
    record = lifecycle.load(ctx.state.request.remediation_id)
    deregistration = (record.facts or {}).get("deregister") or {}
    instance_id = deregistration.get("instance_id") or record.instance_id
    if record.state in ("registering", "verifying", "healthy"):
        return {"done": True, "phase": "started", "wait_seconds": 0}  # a Retry after the rung finished
    if record.state != "escalating":
        raise LifecycleConflict(f"cannot stop/start {instance_id} in lifecycle state {record.state}")
    progress: dict[str, Any] = dict((record.facts or {}).get("stop_start") or {})
    elapsed = ctx.now - escalation.started_at
    if not progress.get("stop_requested_at"):
        for registration in deregistration.get("target_groups", []):
            elbv2.deregister(registration["arn"], instance_id)
        progress["stop_requested_at"] = ctx.now
        record.facts = {**(record.facts or {}), "stop_start": progress}
        lifecycle.save_facts(record)
        ec2.stop_instance(instance_id)
        ctx.audit("STOP_REQUESTED", f"asked EC2 to stop {instance_id} (escalation: a new host after start)",
                  instance_id=instance_id)
    state, status_ok, seen = ec2.power(instance_id)
    if state == "stopped" and not progress.get("start_requested_at"):
        progress["start_requested_at"] = ctx.now
        record.facts = {**(record.facts or {}), "stop_start": progress}
        lifecycle.save_facts(record)
        ec2.start_instance(instance_id)
        ctx.audit("START_REQUESTED", f"{instance_id} stopped {ctx.now - progress['stop_requested_at']:.0f} s "
                  "after the request; asked EC2 to start it", instance_id=instance_id)
        status_ok, seen = False, "start requested"  # it boots for a while: the next poll looks
    if progress.get("start_requested_at") and status_ok:
        result = {"stop_requested_at": progress["stop_requested_at"],
                  "start_requested_at": progress["start_requested_at"], "seconds": round(elapsed, 3)}
        lifecycle.advance(record, "restart", result, ctx.now, ctx.execution_id)
        ctx.audit("STOP_STARTED", f"{instance_id} stopped and started again ({seen}) {elapsed:.0f} s into the "
                  "rung; registering it", instance_id=instance_id, seconds=round(elapsed, 3))
        return {"done": True, "phase": "started", "wait_seconds": 0, "seen": seen}
    if elapsed >= escalation.deadline_seconds:
        ctx.audit("RUNG_TIMED_OUT", f"stop/start of {instance_id} not done {elapsed:.0f} s into the rung "
                  f"(deadline {escalation.deadline_seconds} s): {seen}", instance_id=instance_id, rung="stop_start",
                  elapsed_seconds=round(elapsed, 3), seen=seen)
        raise RungTimedOut(f"stop/start of {instance_id} not done after {elapsed:.0f} s: {seen}")
    remaining = int(escalation.deadline_seconds - elapsed + 0.999)
    phase = "starting" if progress.get("start_requested_at") else "stopping"
    return {"done": False, "phase": phase, "wait_seconds": max(1, min(POLL_SECONDS, remaining)), "seen": seen}


handler = stop_start_instance
