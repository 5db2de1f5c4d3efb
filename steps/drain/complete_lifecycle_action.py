"""Step: let the instance go. Every path of the termination drain ends here, failures included (each Task's
Catch leads here with ``$.error``): termination is never blocked by us.

For a lifecycle hook: CompleteLifecycleAction with ``CONTINUE`` (an action no longer active — completed by an
earlier attempt or a duplicate, or timed out — counts as done). A Spot interruption has no lifecycle action: the
instance goes at the end of its two minutes (an Auto Scaling member with a termination hook gets its own
lifecycle event, and that drain completes it). A failure before this step is audited
``TERMINATION_DRAIN_FAILED`` with its cause.
"""

from __future__ import annotations

from typing import Any

from steps.aws import autoscaling
from steps.core.entrypoint import StepContext, step
from steps.core.reasons import Reason


@step
def complete_lifecycle_action(ctx: StepContext) -> dict[str, Any]:
    termination = ctx.require(ctx.state.termination, "termination", "the trigger always sets it")
    error = ctx.state.error
    if error is not None:
        ctx.audit(Reason.TERMINATION_DRAIN_FAILED,
                  f"the termination drain of {termination.instance_id} failed with {error.Error}: letting it go "
                  "anyway", instance_id=termination.instance_id, error=error.Error, cause=error.Cause[:2000])
    if termination.kind != "lifecycle" or not termination.auto_scaling_group or not termination.hook:
        return {"completed": False, "lifecycle_action": False, "failed": error is not None}
    active = autoscaling.complete_lifecycle_action(termination.auto_scaling_group, termination.hook,
                                                   termination.token, termination.instance_id)
    ctx.audit(Reason.LIFECYCLE_COMPLETED,
              f"CompleteLifecycleAction CONTINUE for {termination.instance_id} ({termination.hook})"
              + ("" if active else ": the action was no longer active (completed before, or timed out)"),
              instance_id=termination.instance_id, hook=termination.hook, token=termination.token,
              result="CONTINUE", active=active, error=error.Error if error else None)
    return {"completed": True, "lifecycle_action": True, "active": active, "failed": error is not None}


handler = complete_lifecycle_action
