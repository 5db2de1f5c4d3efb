"""Step: one check of the boot poll loop: first prove the reboot happened, then wait for status ok.

Never re-register an instance that has not provably rebooted: status checks may read ``ok`` right
after RebootInstances because the reboot is only queued.
"""

from __future__ import annotations

from typing import Any

from steps import lease
from steps.aws import ec2, ssm
from steps.domain import boot
from steps.entrypoint import StepContext, step
from steps.events import BootProgress
from steps.exceptions import BootNotConfirmed
from steps.store import lifecycle


def _boot_time(progress: BootProgress, instance_id: str) -> tuple[int | None, str | None]:
    """(boot time if a command finished, the command still pending)."""
    if not progress.command_id:
        return progress.boot_time, None
    result = ssm.invocation(progress.command_id, instance_id)
    if not result.finished:
        return progress.boot_time, progress.command_id
    return result.integer() or progress.boot_time, None


@step
def check_boot(ctx: StepContext) -> dict[str, Any]:
    reboot = ctx.state.reboot
    assert reboot, "the boot loop runs after the reboot request"
    instance_id = reboot.instance_id
    spec = ctx.group.boot
    progress = ctx.state.boot or BootProgress()
    policy = boot.BootPolicy(spec.signal, spec.poll_seconds, spec.min_wait_seconds, spec.deadline_seconds)
    elapsed = ctx.now - reboot.requested_at
    boot_time, command_id = progress.boot_time, progress.command_id
    confirmed_by = progress.confirmed_by
    if not confirmed_by and spec.signal == "ssm":
        boot_time, command_id = _boot_time(progress, instance_id)
    confirmed_by = confirmed_by or boot.reboot_proven(policy, reboot.requested_at, elapsed, boot_time)
    status_ok, status_seen = (ec2.status_ok(instance_id) if confirmed_by else (None, "not checked yet"))
    decision = boot.decide(policy, reboot.requested_at, elapsed, confirmed_by, boot_time, status_ok)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if decision.confirmed_by and record.state == "rebooting":
        lifecycle.advance(record, "confirm_boot", {"confirmed_by": decision.confirmed_by, "boot_time": boot_time},
                          ctx.now, ctx.execution_id)
    if decision.phase == boot.TIMED_OUT:
        ctx.audit("BOOT_TIMED_OUT", f"{instance_id}: {decision.reason}", instance_id=instance_id,
                  elapsed_seconds=round(elapsed, 3), status=status_seen, boot_time=boot_time)
        raise BootNotConfirmed(f"{instance_id}: {decision.reason}")
    if decision.phase == boot.DONE:
        if record.state == "booting":
            lifecycle.advance(record, "finish_boot", {"boot_seconds": round(elapsed, 3)}, ctx.now, ctx.execution_id)
        ctx.audit("REBOOTED", f"{instance_id} rebooted (proven by {decision.confirmed_by}) and passed its "
                  f"status checks {elapsed:.0f} s after the request", instance_id=instance_id,
                  confirmed_by=decision.confirmed_by, boot_seconds=round(elapsed, 3), boot_time=boot_time)
    elif spec.signal == "ssm" and not decision.confirmed_by and command_id is None:
        # While it reboots the agent is not running and SSM may answer InvalidInstanceId: that is "not yet",
        # asked again at the next poll; the boot deadline still ends the wait (BOOT_TIMED_OUT).
        command_id = ssm.send_if_online(instance_id, ssm.BOOT_TIME, ssm.BOOT_TIME_SCRIPT)
    lease.keep(ctx, decision.wait_seconds)  # past the next Wait; LockLost if another execution took the group
    return {"done": decision.phase == boot.DONE, "phase": decision.phase, "confirmed_by": decision.confirmed_by,
            "boot_time": boot_time, "command_id": command_id, "wait_seconds": decision.wait_seconds,
            "checks": progress.checks + 1, "boot_seconds": round(elapsed, 3), "status": status_seen}


handler = check_boot
