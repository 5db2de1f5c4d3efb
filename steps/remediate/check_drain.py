"""Step: one check of the drain poll loop (Wait -> check -> Choice); the state machine does the waiting.

Target state cannot end the wait early (ELBv2 reports ``draining`` for the whole delay), so the
configured drain signal decides: with ``ssm`` a Run Command counts the established connections from
non-loopback peers on the ports the instance is registered on (recorded by the deregistration step).
Each reading must come from a new command to count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steps.aws import ssm
from steps.core.config import DrainSpec
from steps.core.entrypoint import StepContext, step
from steps.core.events import DeregistrationResult, DrainProgress
from steps.core.exceptions import AwsThrottled
from steps.core.reasons import Reason
from steps.domain import drain, poll_reads
from steps.remediate import lease, polls


def _ssm_reading(ctx: StepContext, progress: DrainProgress, instance_id: str) -> tuple[int, float | None, bool]:
    """(quiet readings so far, the reading if a new one arrived, whether a command is still pending). A throttled
    GetCommandInvocation is no reading this turn: the command stays pending (SSM keeps its output)."""
    if not progress.command_id:
        return progress.quiet, None, False
    try:
        result = ssm.invocation(progress.command_id, instance_id)
    except AwsThrottled as exc:
        polls.no_reading(ctx, "GetCommandInvocation", exc)
        return progress.quiet, None, True
    if not result.finished:
        return progress.quiet, None, True
    count = result.integer()
    if count is None:  # the command failed: that proves nothing either way
        return 0, None, False
    return (progress.quiet + 1 if count == 0 else 0), float(count), False


@dataclass(frozen=True)
class DrainTurn:
    """One turn of a drain poll loop: the step's result and the decision behind it."""

    result: dict[str, Any]
    decision: drain.DrainDecision
    elapsed: float


def drain_turn(ctx: StepContext, deregistration: DeregistrationResult, spec: DrainSpec,
               progress: DrainProgress) -> DrainTurn:
    """Read the drain signal once and decide (audited DRAINED when the drain is over). Shared by the remediation's
    drain loop and the termination drain's (steps/drain/check_termination_drain.py): the deadline is
    ``deregistration.delay_seconds`` plus ``spec.margin_seconds``."""
    instance_id = deregistration.instance_id
    elapsed = ctx.now - deregistration.at
    try:
        # Shared with the group's other polls (polls.py): a reading taken after the deregistration began.
        readings = polls.target_groups([r.arn for r in deregistration.target_groups], poll_seconds=spec.poll_seconds,
                                       not_before=deregistration.at, owner=ctx.execution_id)
        gone = all(not poll_reads.states_of(readings[r.arn], instance_id) for r in deregistration.target_groups)
    except AwsThrottled as exc:
        polls.no_reading(ctx, "DescribeTargetHealth", exc)
        gone = False  # no reading: the target's state cannot end the drain this turn
    quiet, in_flight, pending = progress.quiet, None, False
    command_id = progress.command_id
    # The ports the load balancer talks to this instance on: one per registration, usually one per group.
    ports = sorted({r.port for r in deregistration.target_groups if r.port is not None})
    if spec.signal == "ssm" and ports:
        quiet, in_flight, pending = _ssm_reading(ctx, progress, instance_id)
        command_id = progress.command_id if pending else None
    # Nothing to count (no port recorded): no early end, the wait is the deregistration delay's.
    signal = spec.signal if ports else drain.TARGET_GONE
    policy = drain.DrainPolicy(signal, deregistration.delay_seconds, spec.margin_seconds,
                               spec.floor_seconds, spec.poll_seconds, spec.quiet_checks)
    decision = drain.decide(policy, elapsed, gone, quiet)
    agent_offline = progress.agent_offline
    if spec.signal == "ssm" and ports and not decision.done and command_id is None:
        # SSM refuses a node whose agent is not online (InvalidInstanceId): no reading this turn, so no early
        # end, and the quiet count starts again; the drain runs to the deadline unless the agent answers at a
        # later poll and enough quiet readings follow.
        try:
            command_id = ssm.send_if_online(instance_id, ssm.CONNECTIONS, ssm.connections_script(ports))
            refused = command_id is None
        except AwsThrottled as exc:
            # No command this turn, none refused: the next turn sends it. The quiet readings so far stay
            # consecutive (no reading was taken in between), so they keep counting.
            polls.no_reading(ctx, "SendCommand", exc)
            command_id, refused = None, False
        if refused and not agent_offline:
            ctx.audit(Reason.DRAIN_SIGNAL_UNAVAILABLE,
                      f"SSM refused a command to {instance_id} (its agent is not online): the drain cannot end "
                      f"early and waits for the deregistration delay ({deregistration.delay_seconds} s)",
                      instance_id=instance_id, signal=spec.signal, ports=ports)
        agent_offline = agent_offline or refused
        if refused:
            # Only readings taken after the agent is back may end the drain early: the quiet ones before the
            # gap say nothing about what arrived while no one could look.
            quiet = 0
    result: dict[str, Any] = {
        "done": decision.done, "ended_by": decision.ended_by, "wait_seconds": decision.wait_seconds,
        "quiet": quiet, "checks": progress.checks + 1, "command_id": command_id,
        "drain_seconds": round(elapsed, 3), "in_flight": in_flight, "agent_offline": agent_offline,
    }
    if decision.done:
        saved = max(0.0, deregistration.delay_seconds - elapsed)
        ctx.audit(Reason.DRAINED,
                  f"drain of {instance_id} ended by {decision.ended_by} after {elapsed:.0f} s of a "
                  f"{deregistration.delay_seconds} s deregistration delay ({saved:.0f} s saved)",
                  instance_id=instance_id, ended_by=decision.ended_by, drain_seconds=round(elapsed, 3),
                  delay_seconds=deregistration.delay_seconds, signal=spec.signal, quiet_readings=quiet,
                  checks=progress.checks + 1)
    return DrainTurn(result, decision, elapsed)


@step
def check_drain(ctx: StepContext) -> dict[str, Any]:
    deregistration = ctx.require(ctx.state.deregistration, "deregistration",
                                 "the drain loop runs after deregistration")
    turn = drain_turn(ctx, deregistration, ctx.group.drain, ctx.state.drain or DrainProgress())
    lease.keep(ctx, turn.decision.wait_seconds)  # past the next Wait; LockLost if another execution took the group
    return turn.result


handler = check_drain
