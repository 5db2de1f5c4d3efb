"""Keep the group lease while a remediation polls: renewed conditionally on owner = this execution.

Every poll loop calls ``keep`` once per turn (steps/domain/lease.py says how far and why). When the lock is
no longer ours, someone else may be remediating the group: the step stops with ``LockLost`` (audited
``LOCK_LOST`` with the holder), and the state machine's Catch puts the instance back and fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steps.core.exceptions import LockLost
from steps.core.reasons import Reason
from steps.domain.lease import renewal_seconds
from steps.store import lock

if TYPE_CHECKING:
    from steps.core.entrypoint import StepContext


def keep(ctx: StepContext, wait_seconds: float) -> float:
    """Renew the lease past the next ``wait_seconds`` Wait; the new expiry. Raises LockLost when not ours."""
    group = ctx.group
    renewal = lock.renew(group.name, ctx.execution_id, ctx.now, renewal_seconds(group.lock_lease_seconds,
                                                                                wait_seconds))
    if not renewal.renewed or renewal.expires_at is None:  # renewed always carries the new expiry
        holder = renewal.holder or "nobody (the lock is gone)"
        ctx.audit(Reason.LOCK_LOST, f"the lock of {group.name} is held by {holder}, not this execution: stopping and "
                  "putting the instance back", holder=renewal.holder)
        raise LockLost(f"the lock of {group.name} is held by {holder}, not this execution")
    return renewal.expires_at
