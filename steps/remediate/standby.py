"""Auto Scaling Standby around a remediation: an Auto Scaling group member enters Standby right before it
leaves its target groups (AWS documents Standby as the way to reboot an instance without its group
terminating it) and leaves Standby when it is put back.

The deregister step plans Standby (``enter_standby``), records the plan, then sends it (``send_standby``);
the health check, the restore path, a replay and the sweep's reconciler take it out (``leave_standby``), and
``audit_standby`` says what that did. Every call here is idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from steps.aws import autoscaling
from steps.core.reasons import Reason
from steps.store import reconcile_progress

if TYPE_CHECKING:
    from steps.core.entrypoint import StepContext

# Standby outcomes
EXITED = "exited"
WAITING = "waiting"  # still EnteringStandby (its deregistration delay is running): ExitStandby would fail
NOT_NEEDED = "not_needed"


class Outcome(Protocol):
    """What ``audit_standby`` reads of a put-back's result (steps/remediate/put_back.py PutBack)."""

    @property
    def instance_id(self) -> str | None: ...

    @property
    def standby(self) -> str: ...


def should_decrement(size: autoscaling.GroupSize) -> bool:
    """Decrement the desired capacity on EnterStandby only when MinSize allows it; otherwise the ASG
    launches a replacement while ours is away (more capacity, never less), and scales in when it returns."""
    return size.desired - 1 >= size.min_size


def enter_standby(instance_id: str) -> dict[str, Any] | None:
    """Plan Standby for an InService ASG member (the caller records the plan, then calls ``send_standby``)."""
    membership = autoscaling.membership(instance_id)
    if membership is None:
        return None
    size = autoscaling.group_size(membership.group)
    return {"group": membership.group, "decrement": should_decrement(size), "desired_before": size.desired,
            "min_size": size.min_size, "lifecycle_before": membership.lifecycle_state}


def send_standby(instance_id: str, plan: dict[str, Any], fresh: bool) -> bool:
    """EnterStandby unless a Retry already did (the instance is no longer InService). True when sent.
    ``fresh``: the plan was read just now, so its lifecycle state needs no second lookup."""
    lifecycle_state = plan["lifecycle_before"]
    if not fresh:
        membership = autoscaling.membership(instance_id)
        lifecycle_state = membership.lifecycle_state if membership else None
    if lifecycle_state != autoscaling.IN_SERVICE:
        return False
    autoscaling.enter_standby(plan["group"], instance_id, bool(plan["decrement"]))
    return True


def leave_standby(instance_id: str, standby: dict[str, Any] | None) -> str:
    """ExitStandby when we put it in Standby and it got there; WAITING while it is still entering."""
    if not standby:
        return NOT_NEEDED
    membership = autoscaling.membership(instance_id)
    if membership is None or membership.lifecycle_state == autoscaling.IN_SERVICE:
        return NOT_NEEDED
    if membership.lifecycle_state == autoscaling.ENTERING_STANDBY:
        return WAITING
    if membership.lifecycle_state == autoscaling.STANDBY:
        autoscaling.exit_standby(standby["group"], instance_id)
        return EXITED
    return NOT_NEEDED  # Pending, Terminating...: the ASG owns it now


def audit_standby(ctx: StepContext, result: Outcome) -> None:
    """Audit what putting ``result.instance_id`` back did to its Standby (nothing to say when NOT_NEEDED)."""
    if result.standby == EXITED:
        ctx.audit(Reason.STANDBY_EXITED, f"{result.instance_id} left Auto Scaling Standby",
                  instance_id=result.instance_id)
    elif result.standby == WAITING:
        ctx.audit(Reason.STANDBY_EXIT_PENDING, f"{result.instance_id} is registered again but still EnteringStandby "
                  "(its deregistration delay is running); the sweep's reconciler takes it out of Standby",
                  instance_id=result.instance_id)
        # Even when the group is gone from the declaration by then, the reconciler must find this.
        reconcile_progress.mark_work(ctx.state.request.group, ctx.now)
