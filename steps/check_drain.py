"""Step: one check of the drain poll loop (Wait -> check -> Choice); the state machine does the waiting.

Target state cannot end the wait early (ELBv2 reports ``draining`` for the whole delay), so the
configured drain signal decides: a per-instance connections metric, or an SSM command counting
established connections. Each reading must be new (a later datapoint, a later command) to count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from steps.aws import cloudwatch, elbv2, ssm
from steps.domain import drain
from steps.entrypoint import StepContext, step
from steps.events import DrainProgress


def _metric_quiet(ctx: StepContext, instance_id: str, since: float) -> tuple[int, float | None]:
    spec = ctx.group.drain
    query = cloudwatch.MetricQuery(instance_id, spec.metric_namespace, spec.metric_name, "Maximum",
                                   spec.metric_period_seconds)
    start = datetime.fromtimestamp(since - spec.metric_period_seconds, UTC)
    series = cloudwatch.instance_series([query], start, datetime.fromtimestamp(ctx.now, UTC))[instance_id]
    latest = series[-1][1] if series else None
    return drain.quiet_datapoints(series, since, spec.idle_at_most), latest


def _ssm_reading(progress: DrainProgress, instance_id: str) -> tuple[int, float | None, bool]:
    """(quiet readings so far, the reading if a new one arrived, whether a command is still pending)."""
    if not progress.command_id:
        return progress.quiet, None, False
    result = ssm.invocation(progress.command_id, instance_id)
    if not result.finished:
        return progress.quiet, None, True
    count = result.integer()
    if count is None:  # the command failed: that proves nothing either way
        return 0, None, False
    return (progress.quiet + 1 if count == 0 else 0), float(count), False


@step
def check_drain(ctx: StepContext) -> dict[str, Any]:
    deregistration = ctx.state.deregistration
    assert deregistration, "the drain loop runs after deregistration"
    instance_id = deregistration.instance_id
    spec = ctx.group.drain
    progress = ctx.state.drain or DrainProgress()
    elapsed = ctx.now - deregistration.at
    gone = all(
        instance_id not in elbv2.target_states(r.arn, [instance_id]) for r in deregistration.target_groups
    )
    quiet, in_flight, pending = progress.quiet, None, False
    command_id = progress.command_id
    if spec.signal == "connections_metric":
        quiet, in_flight = _metric_quiet(ctx, instance_id, deregistration.at)
    elif spec.signal == "ssm":
        quiet, in_flight, pending = _ssm_reading(progress, instance_id)
        command_id = progress.command_id if pending else None
    policy = drain.DrainPolicy(spec.signal, deregistration.delay_seconds, spec.margin_seconds,
                               spec.floor_seconds, spec.poll_seconds, spec.quiet_checks)
    decision = drain.decide(policy, elapsed, gone, quiet)
    if spec.signal == "ssm" and not decision.done and command_id is None:
        command_id = ssm.send(instance_id, ssm.CONNECTIONS, ssm.connections_script(spec.ports))
    result: dict[str, Any] = {
        "done": decision.done, "ended_by": decision.ended_by, "wait_seconds": decision.wait_seconds,
        "quiet": quiet, "checks": progress.checks + 1, "command_id": command_id,
        "drain_seconds": round(elapsed, 3), "in_flight": in_flight,
    }
    if decision.done:
        saved = max(0.0, deregistration.delay_seconds - elapsed)
        ctx.audit("DRAINED",
                  f"drain of {instance_id} ended by {decision.ended_by} after {elapsed:.0f} s of a "
                  f"{deregistration.delay_seconds} s deregistration delay ({saved:.0f} s saved)",
                  instance_id=instance_id, ended_by=decision.ended_by, drain_seconds=round(elapsed, 3),
                  delay_seconds=deregistration.delay_seconds, signal=spec.signal, quiet_readings=quiet,
                  checks=progress.checks + 1)
    return result


handler = check_drain
