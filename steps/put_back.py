"""Putting an instance back in service, from wherever a remediation left it; and its Auto Scaling Standby.

One place for what the restore path, a replay and the sweep's reconciler all do: start it if a stop/start
rung left it stopped (RegisterTargets refuses an instance that is not running), take it out of Standby, register it in
every target group the lifecycle record says it was removed from. Every call here is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from steps.aws import autoscaling, ec2, elbv2
from steps.aws.errors import code_behind
from steps.domain import replacement
from steps.exceptions import AwsCallFailed, AwsUnavailable
from steps.reasons import Reason
from steps.store import reconcile_progress

if TYPE_CHECKING:
    from steps.entrypoint import StepContext

# Standby outcomes
EXITED = "exited"
WAITING = "waiting"  # still EnteringStandby (its deregistration delay is running): ExitStandby would fail
NOT_NEEDED = "not_needed"


@dataclass(frozen=True)
class PutBack:
    instance_id: str | None
    target_groups: list[str] = field(default_factory=list)
    standby: str = NOT_NEEDED
    being_replaced: bool = False
    gone: str | None = None  # the instance no longer exists (RegisterTargets refused it): what EC2 says

    def numbers(self) -> dict[str, Any]:
        return {"target_groups": self.target_groups, "standby": self.standby,
                "being_replaced": self.being_replaced, **({"gone": self.gone} if self.gone else {})}

    def sentence(self) -> str:
        if self.gone:
            return f"{self.instance_id} no longer exists ({self.gone}): nothing to put back"
        if self.being_replaced:
            return "left it to its Auto Scaling group, which is replacing it"
        return f"put {self.instance_id} back in {len(self.target_groups)} target group(s)"


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


def start_if_stopped(instance_id: str, facts: dict[str, Any]) -> None:
    """A stop/start rung may have stopped it. RegisterTargets refuses anything not running, so until it
    runs this raises a retryable error (the restore Task retries; the reconciler tries on the next sweep)."""
    progress = facts.get("stop_start") or {}
    # stop_requested_at: what records written before stop_intended_at/stop_sent_at existed call it (a
    # remediation in flight across an upgrade)
    if not any(progress.get(key) for key in ("stop_intended_at", "stop_sent_at", "stop_requested_at")):
        return  # the rung never got as far as asking EC2 to stop it (a stopped instance is someone else's doing)
    state, _, seen = ec2.power(instance_id)
    if state == "stopped":
        ec2.start_instance(instance_id)
        raise _not_running(f"started {instance_id} again after an interrupted stop/start; registering it "
                           "once it is running")
    if state in ("stopping", "pending"):
        raise _not_running(f"{instance_id} is {state} ({seen}); it is registered once it is running")


def _not_running(message: str) -> AwsUnavailable:
    error = AwsUnavailable(message)
    error.waiting = True
    return error


def being_replaced(instance_id: str, facts: dict[str, Any]) -> bool:
    """The replace rung marked it Unhealthy (accepted, or proven by its ASG): its ASG is terminating it."""
    progress = facts.get("replace") or {}
    if progress.get("marked_sent_at"):
        return True
    if not progress.get("mark_intended_at"):
        return False
    return replacement.mark_in_effect(autoscaling.membership(instance_id), True)


def put_back(facts: dict[str, Any]) -> PutBack:
    """Everything the lifecycle facts say was taken away, given back. The caller records the result."""
    deregistration = facts.get("deregister")
    if not deregistration:
        return PutBack(None)
    instance_id = deregistration["instance_id"]
    if being_replaced(instance_id, facts):
        # Its ASG is terminating it: registering a terminating instance is refused, and pointless.
        return PutBack(instance_id, being_replaced=True)
    start_if_stopped(instance_id, facts)
    standby = leave_standby(instance_id, deregistration.get("standby"))
    arns: list[str] = []
    for registration in deregistration["target_groups"]:
        try:
            elbv2.register(registration["arn"], instance_id, registration.get("port"))
        except AwsCallFailed:
            gone = gone_state(instance_id)
            if gone is None:
                raise
            # Terminated since (by a person, Spot, its ASG): no put-back can ever succeed, so retrying it every
            # sweep would fail (and announce) forever. Said once, and the remediation is closed.
            return PutBack(instance_id, arns, standby, gone=gone)
        arns.append(registration["arn"])
    return PutBack(instance_id, arns, standby)


GONE_STATES = frozenset({"shutting-down", "terminated"})


def gone_state(instance_id: str) -> str | None:
    """After RegisterTargets refused ``instance_id``: its EC2 state if it is terminated or being terminated
    (``InvalidInstanceID.NotFound`` once EC2 no longer lists it), else None (refused for another reason,
    e.g. stopped by someone: that stays a failure, since starting it is not ours to do)."""
    try:
        state, _, _ = ec2.power(instance_id)
    except AwsCallFailed as exc:
        if code_behind(exc) == "InvalidInstanceID.NotFound":
            return "not found"
        raise
    return state if state in GONE_STATES else None


def audit_standby(ctx: StepContext, result: PutBack) -> None:
    if result.standby == EXITED:
        ctx.audit(Reason.STANDBY_EXITED, f"{result.instance_id} left Auto Scaling Standby",
                  instance_id=result.instance_id)
    elif result.standby == WAITING:
        ctx.audit(Reason.STANDBY_EXIT_PENDING, f"{result.instance_id} is registered again but still EnteringStandby "
                  "(its deregistration delay is running); the sweep's reconciler takes it out of Standby",
                  instance_id=result.instance_id)
        # Even when the group is gone from the declaration by then, the reconciler must find this.
        reconcile_progress.mark_work(ctx.state.request.group, ctx.now)
