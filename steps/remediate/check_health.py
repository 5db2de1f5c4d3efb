"""Step: one check of the health poll loop: healthy in every target group (then out of Auto Scaling Standby),
or give up at the deadline, which escalates."""

from __future__ import annotations

from typing import Any

from steps.core.entrypoint import StepContext, step
from steps.core.events import HealthProgress
from steps.core.exceptions import AwsThrottled, HealthNotRestored
from steps.core.reasons import Reason
from steps.domain import poll_reads, waits
from steps.domain.history import STANDBY_POLL_SECONDS
from steps.remediate import lease, polls
from steps.remediate.standby import EXITED, WAITING, leave_standby
from steps.store import lifecycle

NO_READING = "no reading (throttled)"


@step
def check_health(ctx: StepContext) -> dict[str, Any]:
    registration = ctx.require(ctx.state.registration, "registration", "health is checked after re-registration")
    deregistration = ctx.require(ctx.state.deregistration, "deregistration",
                                 "health is checked after re-registration")
    instance_id = deregistration.instance_id
    spec = ctx.group.health
    progress = ctx.state.health or HealthProgress()
    elapsed = ctx.now - registration.at
    arns = [r.arn for r in deregistration.target_groups]
    try:
        # Shared with the group's other polls (polls.py): a reading taken after the registration; past the deadline
        # (the turn that would escalate) AWS is read afresh.
        readings = polls.target_groups(arns, poll_seconds=spec.poll_seconds, not_before=registration.at,
                                       owner=ctx.execution_id, fresh=waits.expired(elapsed, spec.deadline_seconds))
        states = {arn: poll_reads.state_of(readings[arn], instance_id) for arn in arns}
        healthy = all(s == "healthy" for s in states.values())
    except AwsThrottled as exc:
        polls.no_reading(ctx, "DescribeTargetHealth", exc)
        states = {arn: NO_READING for arn in arns}
        healthy = False  # no reading this turn: the deadline below still bounds the loop
    if healthy:
        record = lifecycle.load(ctx.state.request.remediation_id)
        standby = leave_standby(instance_id, ((record.facts or {}).get("deregister") or {}).get("standby"))
        if standby == WAITING:
            # Serving again, but ExitStandby waits for the ASG to finish EnteringStandby (up to the
            # deregistration delay, 3600 s at most). No deadline applies here, so poll slowly: each turn
            # writes history events (steps/domain/history.py bounds them).
            standby_wait = max(spec.poll_seconds, STANDBY_POLL_SECONDS)
            lease.keep(ctx, standby_wait)
            return {"done": False, "states": states, "checks": progress.checks + 1,
                    "wait_seconds": standby_wait, "standby": standby}
        if standby == EXITED:
            ctx.audit(Reason.STANDBY_EXITED, f"{instance_id} left Auto Scaling Standby", instance_id=instance_id)
        if record.state == "verifying":
            lifecycle.advance(record, "verify", {"states": states, "seconds": round(elapsed, 3)}, ctx.now,
                              ctx.execution_id)
        total = ctx.now - deregistration.at
        ctx.audit(Reason.HEALTHY, f"{instance_id} is healthy in every target group {elapsed:.0f} s after "
                  f"re-registration; out of service for {total:.0f} s in all", instance_id=instance_id,
                  states=states, time_to_healthy_seconds=round(elapsed, 3),
                  out_of_service_seconds=round(total, 3))
        return {"done": True, "states": states, "checks": progress.checks + 1, "wait_seconds": 0}
    if waits.expired(elapsed, spec.deadline_seconds):
        ctx.audit(Reason.HEALTH_TIMED_OUT, f"{instance_id} not healthy in every target group {elapsed:.0f} s "
                  f"after re-registration (deadline {spec.deadline_seconds} s): {states}",
                  instance_id=instance_id, states=states, elapsed_seconds=round(elapsed, 3))
        raise HealthNotRestored(f"{instance_id} not healthy after {elapsed:.0f} s: {states}")
    wait = waits.next_wait(spec.poll_seconds, elapsed, spec.deadline_seconds)
    lease.keep(ctx, wait)  # past the next Wait; LockLost if another execution took the group
    return {"done": False, "states": states, "checks": progress.checks + 1, "wait_seconds": wait}


handler = check_health
