"""Step: take the group's lease so that only one remediation per group runs at a time."""

from __future__ import annotations

from typing import Any

from steps.aws.stepfunctions import execution_status
from steps.core.entrypoint import StepContext, step
from steps.core.reasons import Reason
from steps.domain.lifecycle import may
from steps.store import lifecycle, lock


@step
def acquire_group_lock(ctx: StepContext) -> dict[str, Any]:
    group = ctx.group
    outcome = lock.acquire(group.name, ctx.execution_id, ctx.now, group.lock_lease_seconds, execution_status)
    if outcome.acquired:
        if outcome.took_over_from:
            ctx.audit(Reason.LOCK_TAKEN_OVER,
                      f"took over the lock of {group.name} from {outcome.took_over_from}, which is no longer "
                      "running", previous_owner=outcome.took_over_from, expires_at=outcome.expires_at)
        else:
            ctx.audit(Reason.LOCK_ACQUIRED, f"acquired the lock of {group.name} until {outcome.expires_at:.0f}",
                      expires_at=outcome.expires_at)
        return {"acquired": True, "expires_at": outcome.expires_at}
    ctx.audit(Reason.SKIPPED_LOCKED,
              f"another remediation of {group.name} holds the lock ({outcome.holder}); doing nothing",
              holder=outcome.holder, holder_expires_at=outcome.holder_expires_at)
    record = lifecycle.load(ctx.state.request.remediation_id)
    if may(record.state, "skip"):
        lifecycle.advance(record, "skip", {"reason": "locked", "holder": outcome.holder}, ctx.now, ctx.execution_id)
    return {"acquired": False, "holder": outcome.holder}


handler = acquire_group_lock
