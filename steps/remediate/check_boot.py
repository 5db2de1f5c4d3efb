"""Step: one check of the boot poll loop: first prove the reboot happened, then wait for status ok.

Never re-register an instance that has not provably rebooted: status checks may read ``ok`` right
after RebootInstances because the reboot is only queued.
"""

from __future__ import annotations

from typing import Any

from steps.aws import ec2, ssm
from steps.core.entrypoint import StepContext, step
from steps.core.events import BootProgress
from steps.core.exceptions import AwsThrottled, BootNotConfirmed
from steps.core.reasons import Reason
from steps.domain import boot
from steps.remediate import lease, polls
from steps.store import lifecycle


def _boot_time(ctx: StepContext, progress: BootProgress, instance_id: str) -> tuple[int | None, str | None, int | None]:
    """(boot time if a command finished, the command still pending, the boot time that command just read). A
    throttled GetCommandInvocation is no reading this turn: the command stays pending (SSM keeps its output)."""
    if not progress.command_id:
        return progress.boot_time, None, None
    try:
        result = ssm.invocation(progress.command_id, instance_id)
    except AwsThrottled as exc:
        polls.no_reading(ctx, "GetCommandInvocation", exc)
        return progress.boot_time, progress.command_id, None
    if not result.finished:
        return progress.boot_time, progress.command_id, None
    fresh = result.integer()
    return fresh or progress.boot_time, None, fresh


def _status(ctx: StepContext, instance_id: str) -> tuple[bool | None, str]:
    """(both status checks ok, what was seen); a throttled DescribeInstanceStatus is no reading this turn (None).
    Read by each execution for its own instance (docs/design.md, "Polls at fleet scale": why not shared)."""
    try:
        return ec2.status_ok(instance_id)
    except AwsThrottled as exc:
        polls.no_reading(ctx, "DescribeInstanceStatus", exc)
        return None, "no reading (throttled)"


@step
def check_boot(ctx: StepContext) -> dict[str, Any]:
    reboot = ctx.require(ctx.state.reboot, "reboot", "the boot loop runs after the reboot request")
    instance_id = reboot.instance_id
    spec = ctx.group.boot
    progress = ctx.state.boot or BootProgress()
    if progress.phase == boot.RESEND:  # the reboot step has just sent the reboot again: a new boot loop
        progress = BootProgress()
    policy = boot.BootPolicy(spec.signal, spec.poll_seconds, spec.min_wait_seconds, spec.deadline_seconds)
    elapsed = ctx.now - reboot.requested_at
    boot_time, command_id, command_sent_at = progress.boot_time, progress.command_id, progress.command_sent_at
    confirmed_by = progress.confirmed_by
    fresh: int | None = None
    if not confirmed_by and spec.signal == "ssm":
        boot_time, command_id, fresh = _boot_time(ctx, progress, instance_id)
    confirmed_by = confirmed_by or boot.reboot_proven(policy, reboot.requested_at, elapsed, boot_time)
    if (not confirmed_by and reboot.sent is False and reboot.resend_of is None and command_sent_at is not None
            and boot.no_reboot_since(reboot.requested_at, command_sent_at, fresh)):
        # The reboot step could not tell whether its RebootInstances went out (it died, or lost an answer,
        # between the write-ahead record and recording the call as sent). The instance answers: a boot time
        # read long after any accepted reboot would have happened is still older than the request, so none
        # was queued. Back to the reboot step, which sends it (once) on this evidence.
        lease.keep(ctx, 0)  # LockLost (and no reboot) if another execution took the group
        ctx.audit(Reason.REBOOT_NOT_QUEUED, f"{instance_id} still runs the kernel booted at {fresh}, read "
                  f"{command_sent_at - reboot.requested_at:.0f} s after the reboot request of an attempt that "
                  "may have died before its call: no reboot was queued; sending it", instance_id=instance_id,
                  boot_time=fresh, command_sent_at=command_sent_at, requested_at=reboot.requested_at)
        return {"done": False, "phase": boot.RESEND, "boot_time": fresh, "command_sent_at": command_sent_at,
                "wait_seconds": 0, "checks": progress.checks + 1, "boot_seconds": round(elapsed, 3)}
    status_ok, status_seen = _status(ctx, instance_id) if confirmed_by else (None, "not checked yet")
    decision = boot.decide(policy, reboot.requested_at, elapsed, confirmed_by, boot_time, status_ok)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if decision.confirmed_by and record.state == "rebooting":
        lifecycle.advance(record, "confirm_boot", {"confirmed_by": decision.confirmed_by, "boot_time": boot_time},
                          ctx.now, ctx.execution_id)
    if decision.phase == boot.TIMED_OUT:
        ctx.audit(Reason.BOOT_TIMED_OUT, f"{instance_id}: {decision.reason}", instance_id=instance_id,
                  elapsed_seconds=round(elapsed, 3), status=status_seen, boot_time=boot_time)
        raise BootNotConfirmed(f"{instance_id}: {decision.reason}")
    if decision.phase == boot.DONE:
        if record.state == "booting":
            lifecycle.advance(record, "finish_boot", {"boot_seconds": round(elapsed, 3)}, ctx.now, ctx.execution_id)
        # With boot.signal "none" nothing proves the reboot: min_wait only assumes it. Said so, and more plainly
        # when the request's answer was never seen (its step died or lost the answer after the write-ahead).
        unseen = decision.confirmed_by == "min_wait" and reboot.sent is False
        how = ("assumed after the minimum wait: boot.signal none cannot prove it, and the RebootInstances answer "
               "was never seen (it may not have been sent)" if unseen else
               "assumed after the minimum wait (boot.signal none cannot prove it)"
               if decision.confirmed_by == "min_wait" else f"proven by {decision.confirmed_by}")
        ctx.audit(Reason.REBOOTED, f"{instance_id} rebooted ({how}) and passed its status checks {elapsed:.0f} s after "
                  "the request", instance_id=instance_id, confirmed_by=decision.confirmed_by,
                  boot_seconds=round(elapsed, 3), boot_time=boot_time, request_answer_seen=reboot.sent is not False)
    elif spec.signal == "ssm" and not decision.confirmed_by and command_id is None:
        # While it reboots the agent is not running and SSM may answer InvalidInstanceId: that is "not yet",
        # asked again at the next poll; the boot deadline still ends the wait (BOOT_TIMED_OUT).
        try:
            command_id = ssm.send_if_online(instance_id, ssm.BOOT_TIME, ssm.BOOT_TIME_SCRIPT)
        except AwsThrottled as exc:
            polls.no_reading(ctx, "SendCommand", exc)  # no command this turn: the next turn sends it
            command_id = None
        command_sent_at = ctx.now if command_id else None
    lease.keep(ctx, decision.wait_seconds)  # past the next Wait; LockLost if another execution took the group
    return {"done": decision.phase == boot.DONE, "phase": decision.phase, "confirmed_by": decision.confirmed_by,
            "boot_time": boot_time, "command_id": command_id, "command_sent_at": command_sent_at,
            "wait_seconds": decision.wait_seconds,
            "checks": progress.checks + 1, "boot_seconds": round(elapsed, 3), "status": status_seen}


handler = check_boot
