"""Step: ask EC2 to reboot the drained instance, at most once per remediation.

Write-ahead: the lifecycle moves to ``rebooting`` before the RebootInstances call. A Retry or replay
that finds ``rebooting`` (or later) recorded does not call again, unless the record proves the earlier
call never took effect (EC2 refused it: a 4xx error or throttling). A 5xx such as InternalError proves
nothing: the call may have been accepted.
A crash right after a successful call, or an answer that never arrived, therefore cannot produce a second
reboot; the boot check then proves whether the reboot happened.

The record alone cannot tell a crash after an accepted RebootInstances from one between the write-ahead and
the call (or a lost answer of the write-ahead itself): both leave ``sent: false``. The instance can: the boot
check reads its boot time, and when a command sent long after any accepted reboot would have restarted the
kernel (``boot.REBOOT_SETTLED_SECONDS``) still reads a boot time older than the request, no reboot was
queued. On that evidence (``$.boot.phase == resend``) this step sends the reboot once more, write-ahead
again (``resend_of``), and never a third time.
"""

from __future__ import annotations

from typing import Any

from steps.aws import ec2
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import (
    AwsCallFailed,
    AwsThrottled,
    AwsUnavailable,
    CapacityLost,
    GroupPaused,
    LifecycleConflict,
)
from steps.core.reasons import Reason
from steps.domain import boot
from steps.remediate import blockers
from steps.store import audit, lifecycle
from steps.store.lifecycle import RemediationRecord


def _mark_not_sent(record: RemediationRecord, result: dict[str, Any]) -> None:
    """EC2 refused the call, so no reboot is queued: let the Retry send it again."""
    record.facts = {**(record.facts or {}), "reboot": {**result, "sent": False, "refused": True}}
    lifecycle.save_facts(record)


def _guard(ctx: StepContext, instance_id: str) -> None:
    # A pause since the capacity check (e.g. during the drain) stops it here: put back, not rebooted.
    paused = blockers.refuse_if_paused(ctx.group, instance_id, "rebooting")
    if paused:
        ctx.audit(Reason.SKIPPED_PAUSED, paused, instance_id=instance_id, at_step="reboot")
        raise GroupPaused(paused)
    # Registered since the selection in a target group another group guards: the reboot would take it out
    # of that one undrained (steps/remediate/blockers.py serves_another_group). Put back, not rebooted.
    shared = blockers.serves_another_group(ctx.group, instance_id)
    if shared:
        ctx.audit(Reason.SKIPPED_SHARED, f"not rebooting {instance_id}: {shared}", instance_id=instance_id,
                  at_step="reboot")
        raise CapacityLost(f"not rebooting {instance_id}: {shared}")
    # If the rest of the group lost capacity while this one drained, it is worth more serving
    # (even degraded) than rebooting: fail into the restore path, which puts it back.
    capacity = blockers.capacity_now(ctx.group, instance_id, ctx.execution_id, ctx.now).decision
    if not capacity.allowed:
        ctx.audit(capacity.skip_code, f"not rebooting {instance_id}: {capacity.reason}",
                  instance_id=instance_id, checks=capacity.numbers())
        raise CapacityLost(f"not rebooting {instance_id}: {capacity.reason}")


def _never_queued(ctx: StepContext, record: RemediationRecord, earlier: dict[str, Any]) -> bool:
    """The boot check proved (from the instance's boot time) that the recorded, unconfirmed request never
    queued a reboot, and nothing has been sent again since."""
    progress = ctx.state.boot
    if (progress is None or progress.phase != boot.RESEND or record.state != "rebooting"
            or earlier.get("sent") is not False or earlier.get("resend_of") is not None):
        return False
    seen = progress.boot_time
    return boot.no_reboot_since(float(earlier["requested_at"]), progress.command_sent_at,
                                None if seen is None else int(seen))


@step
def reboot_instance(ctx: StepContext) -> dict[str, Any]:
    deregistration = ctx.require(ctx.state.deregistration, "deregistration", "reboot follows deregistration")
    instance_id = deregistration.instance_id
    record = lifecycle.load(ctx.state.request.remediation_id)
    earlier = lifecycle.recorded(record, "reboot")
    if earlier is not None and not earlier.get("refused"):
        if not _never_queued(ctx, record, earlier):
            if earlier.get("sent") and not _requested_audited(instance_id, earlier):
                # Accepted, but the attempt that sent it stopped before its audit (a crash, or its last save's
                # answer lost): the cooldown, the daily reboot limit and the storm breaker count REBOOT_REQUESTED.
                _audit_requested(ctx, instance_id, earlier)
            return earlier
        # Proven never queued (see the module docstring): send it again, write-ahead again.
        _guard(ctx, instance_id)
        result = {"instance_id": instance_id, "requested_at": ctx.now, "sent": False,
                  "resend_of": earlier["requested_at"]}
        record.facts = {**(record.facts or {}), "reboot": result}
        lifecycle.save_facts(record)
    elif earlier is None:
        if record.state != "draining":
            raise LifecycleConflict(f"cannot reboot {instance_id} in lifecycle state {record.state}")
        _guard(ctx, instance_id)
        result = {"instance_id": instance_id, "requested_at": ctx.now, "sent": False}
        lifecycle.advance(record, "reboot", result, ctx.now, ctx.execution_id)
    else:  # EC2 refused the earlier call: nothing is queued, send it again (keeping what it resends)
        result = {"instance_id": instance_id, "requested_at": ctx.now, "sent": False,
                  **({"resend_of": earlier["resend_of"]} if earlier.get("resend_of") is not None else {})}
        # Write-ahead again, without "refused": if this call is accepted and its answer lost, a Retry must
        # find an unconfirmed request (never sent again on the record alone), not the earlier refusal.
        record.facts = {**(record.facts or {}), "reboot": result}
        lifecycle.save_facts(record)
    try:
        ec2.reboot(instance_id)
    except (AwsThrottled, AwsCallFailed):
        _mark_not_sent(record, result)
        raise
    except AwsUnavailable:
        # No answer (timeout, reset) or a 5xx: either may have been accepted. AWS: mutating requests "might also
        # time out or encounter other server issues before they complete, even though the request has already
        # returned a result", and RebootInstances has no client token to retry it safely
        # (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html). Never sent again on the
        # record alone: the boot check proves from the boot time whether one was queued (REBOOT_NOT_QUEUED).
        raise
    result = {**result, "sent": True}
    record.facts = {**(record.facts or {}), "reboot": result}
    lifecycle.save_facts(record)
    _audit_requested(ctx, instance_id, result)
    return result


def _audit_requested(ctx: StepContext, instance_id: str, result: dict[str, Any]) -> None:
    """REBOOT_REQUESTED: the cooldown, the daily reboot limit and the storm breaker count these records."""
    ctx.audit(Reason.REBOOT_REQUESTED,
              f"asked EC2 to reboot {instance_id}; EC2 only queues the reboot, so the next step waits "
              "for proof that it happened", instance_id=instance_id, requested_at=result["requested_at"])


def _requested_audited(instance_id: str, result: dict[str, Any]) -> bool:
    """Whether this request's REBOOT_REQUESTED is in the trail. The by-instance index is eventually
    consistent: a record written moments ago may not show yet, and is then written twice, which counts one
    reboot too many (the safe side), never one too few."""
    requested_at = float(result["requested_at"])
    return any(r.event == Reason.REBOOT_REQUESTED and (r.details or {}).get("requested_at") == result["requested_at"]
               for r in audit.for_instance(instance_id, since=requested_at - 1))


handler = reboot_instance
