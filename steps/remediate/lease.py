"""Keep the group lease while a remediation polls: renewed conditionally on owner = this execution.

Every poll loop calls ``keep`` once per turn (steps/domain/lease.py says how far and why). When the lock is
no longer ours, someone else may be remediating the group: the step stops with ``LockLost`` (audited
``LOCK_LOST`` with the holder), and the state machine's Catch puts the instance back and fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steps.core.exceptions import InstanceTerminating, LockLost
from steps.core.reasons import Reason
from steps.domain.lease import renewal_seconds, watch_renewal_seconds
from steps.store import lock, terminating

if TYPE_CHECKING:
    from steps.core.entrypoint import StepContext


def stop_if_terminating(instance_id: str | None) -> None:
    """InstanceTerminating when the termination drain marked ``instance_id`` (steps/store/terminating.py): a
    scale-in or Spot interruption is taking it; the Catch takes the restore path, which puts nothing back."""
    if instance_id and (mark := terminating.find(instance_id)) is not None:
        raise InstanceTerminating(f"{instance_id} is being terminated ({mark.kind}, drain {mark.execution}): "
                                  "stopping; nothing is put back")


def keep(ctx: StepContext, wait_seconds: float, terminating_is_the_goal: bool = False, *,
         watching: bool = False) -> float:
    """Renew the lease past the next ``wait_seconds`` Wait; the new expiry. Raises LockLost when not ours, and
    InstanceTerminating when the instance is being terminated, unless ``terminating_is_the_goal`` (the replace
    rung: its own SetInstanceHealth Unhealthy makes the group terminate the instance, through the termination
    hook and so the termination drain too; the rung goes on until the replacement is in service).
    ``watching``: the selection watches (nothing is out of service, nothing chosen yet): a whole selection may
    follow the Wait (``watch_renewal_seconds``), and a watched instance being terminated simply stops failing."""
    if not terminating_is_the_goal and not watching:
        stop_if_terminating(ctx.instance_id)
    group = ctx.group
    extend = watch_renewal_seconds if watching else renewal_seconds
    renewal = lock.renew(ctx.lock_key, ctx.execution_id, ctx.now, extend(group.lock_lease_seconds, wait_seconds))
    if not renewal.renewed or renewal.expires_at is None:  # renewed always carries the new expiry
        holder = renewal.holder or "nobody (the lock is gone)"
        ctx.audit(Reason.LOCK_LOST, f"the lock of {group.name} is held by {holder}, not this execution: stopping"
                  + (" watching" if watching else " and putting the instance back"), holder=renewal.holder)
        raise LockLost(f"the lock of {group.name} is held by {holder}, not this execution")
    return renewal.expires_at
