"""Step: one turn of the termination drain's poll loop, and the lifecycle action's heartbeat.

The drain itself is the remediation's (steps/remediate/check_drain.py ``drain_turn``: the group's drain signal,
the deadline), with the budget the prepare step planned; a Spot drain has no margin past it. While a lifecycle
hook waits for us, a heartbeat (RecordLifecycleActionHeartbeat) is recorded whenever a third of the hook's
HeartbeatTimeout has passed since the last one (the first: since the event's time, when the hook started
waiting), and the next Wait is never longer than that third: the gap
between two heartbeats stays below the timeout as long as a turn (the step with its retries) takes less than
the last third. The hook's GlobalTimeout (48 h or 100 heartbeat timeouts,
whichever is smaller) bounds the drain: it ends one heartbeat timeout before.
"""

from __future__ import annotations

from typing import Any

from steps.aws import autoscaling
from steps.core.entrypoint import StepContext, step
from steps.core.events import DrainProgress
from steps.core.reasons import Reason
from steps.remediate.check_drain import drain_turn


def heartbeat_due(now: float, last: float, heartbeat_seconds: int) -> bool:
    """A heartbeat is recorded once a third of the hook's heartbeat timeout has passed since the last."""
    return now - last >= heartbeat_seconds / 3


def capped_wait(wait_seconds: int, heartbeat_seconds: int) -> int:
    """The next Wait, never longer than a third of the heartbeat timeout: a turn that finds no heartbeat due
    (less than a third since the last) plus this Wait leaves a third for the step itself (its Retry included)."""
    return max(1, min(wait_seconds, heartbeat_seconds // 3))


@step
def check_termination_drain(ctx: StepContext) -> dict[str, Any]:
    termination = ctx.require(ctx.state.termination, "termination", "the trigger always sets it")
    plan = ctx.require(ctx.state.plan, "plan", "the drain loop runs after the prepare step")
    deregistration = ctx.require(plan.deregistration, "plan.deregistration", "a drain plan deregistered it")
    spec = ctx.group.drain
    if termination.kind == "spot":
        spec = spec.model_copy(update={"margin_seconds": 0})  # the two minutes are all there is
    progress = ctx.state.drain or DrainProgress()
    turn = drain_turn(ctx, deregistration, spec, progress)
    result = dict(turn.result)
    # The hook's timeouts run from when the instance entered Terminating:Wait (the event's time), not from when
    # the event reached us: delivery, a retried invocation, the prepare step all come out of the first timeout.
    waiting_since = min(plan.started_at, termination.event_time)
    last = progress.last_heartbeat_at if progress.last_heartbeat_at is not None else waiting_since
    heartbeat = plan.heartbeat_seconds
    if heartbeat and termination.auto_scaling_group and termination.hook:
        bound = min(autoscaling.GLOBAL_TIMEOUT_MAX, 100 * heartbeat) - heartbeat
        if not turn.decision.done and ctx.now - waiting_since >= bound:
            # The hook's global timeout less one heartbeat timeout: let it go before AWS does.
            result.update(done=True, ended_by="hook_global_timeout", wait_seconds=0)
        if not result["done"]:
            if heartbeat_due(ctx.now, last, heartbeat):
                if autoscaling.record_heartbeat(termination.auto_scaling_group, termination.hook, termination.token,
                                                termination.instance_id):
                    ctx.audit(Reason.TERMINATION_HEARTBEAT,
                              f"heartbeat for {termination.instance_id}: {ctx.now - last:.0f} s since the last, hook "
                              f"heartbeat timeout {heartbeat} s", instance_id=termination.instance_id,
                              heartbeat_seconds=heartbeat, since_last_seconds=round(ctx.now - last, 3))
                    last = ctx.now
                else:
                    # The action is over (timed out, or completed by someone else): the instance is going now.
                    result.update(done=True, ended_by="lifecycle_action_ended", wait_seconds=0)
            if not result["done"]:
                result["wait_seconds"] = capped_wait(int(result["wait_seconds"]), heartbeat)
    result["last_heartbeat_at"] = last
    if result["done"]:
        ctx.audit(Reason.TERMINATION_DRAINED,
                  f"termination drain of {termination.instance_id} ended by {result['ended_by']} after "
                  f"{turn.elapsed:.0f} s", instance_id=termination.instance_id, ended_by=result["ended_by"],
                  drain_seconds=round(turn.elapsed, 3), checks=result["checks"])
    return result


handler = check_termination_drain
