"""Putting an instance back in service, from wherever a remediation left it.

One place for what the restore path, a replay and the sweep's reconciler all do: start it if a stop/start
rung left it stopped (RegisterTargets refuses an instance that is not running), take it out of Standby
(steps/remediate/standby.py), register it in every target group the lifecycle record says it was removed
from. Every call here is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from steps.aws import autoscaling, ec2, elbv2
from steps.aws.errors import code_behind
from steps.core.exceptions import AwsCallFailed, AwsUnavailable
from steps.domain import replacement
from steps.remediate.standby import NOT_NEEDED, leave_standby
from steps.store import terminating


@dataclass(frozen=True)
class PutBack:
    instance_id: str | None
    target_groups: list[str] = field(default_factory=list)
    standby: str = NOT_NEEDED
    being_replaced: bool = False
    gone: str | None = None  # the instance no longer exists (RegisterTargets refused it): what EC2 says
    terminating: str | None = None  # a scale-in or Spot interruption is taking it: why we know

    def numbers(self) -> dict[str, Any]:
        return {"target_groups": self.target_groups, "standby": self.standby,
                "being_replaced": self.being_replaced, **({"gone": self.gone} if self.gone else {}),
                **({"terminating": self.terminating} if self.terminating else {})}

    def sentence(self) -> str:
        if self.terminating:
            return f"{self.instance_id} is being terminated ({self.terminating}): not put back"
        if self.gone:
            return f"{self.instance_id} no longer exists ({self.gone}): nothing to put back"
        if self.being_replaced:
            return "left it to its Auto Scaling group, which is replacing it"
        return f"put {self.instance_id} back in {len(self.target_groups)} target group(s)"


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
    why = terminating_now(instance_id, deregistration.get("standby"))
    if why:
        # A scale-in lifecycle hook or a Spot interruption is taking it (the termination drain owns it): never
        # registered again, by the restore path, a replay or the reconciler.
        return PutBack(instance_id, terminating=why)
    start_if_stopped(instance_id, facts)
    standby = leave_standby(instance_id, deregistration.get("standby"))
    arns, gone = register_all(instance_id, deregistration["target_groups"])
    overtaken = taken_back_if_marked(instance_id, deregistration["target_groups"], arns)
    if overtaken:
        return PutBack(instance_id, standby=standby, terminating=overtaken)
    return PutBack(instance_id, arns, standby, gone=gone)


def taken_back_if_marked(instance_id: str, registrations: list[dict[str, Any]], registered: list[str]) -> str | None:
    """After registering: when a termination drain marked the instance meanwhile (it marks before it deregisters,
    so a registration that overtook its deregistration is seen here), DeregisterTargets what was just registered
    and say why; else None. Whichever of the two went last, the instance ends out of service."""
    mark = terminating.find(instance_id)
    if mark is None:
        return None
    for registration in registrations:
        if registration["arn"] in registered:
            elbv2.deregister(registration["arn"], instance_id, registration.get("port"))
    return f"{mark.kind} termination, drained by {mark.execution} (marked while it was registered: taken back)"


def register_all(instance_id: str, registrations: list[dict[str, Any]],
                 deleted: list[str] | None = None) -> tuple[list[str], str | None]:
    """RegisterTargets in every target group of ``registrations`` ({"arn", "port"}): (the ARNs registered, None),
    or, when RegisterTargets refused it because the instance is terminated or no longer exists, (those registered
    before, what EC2 says). A target group deleted since (``TargetGroupNotFound``) cannot take it back: it is
    skipped (appended to ``deleted``) and the others still get it. Any other refusal raises."""
    arns: list[str] = []
    for registration in registrations:
        try:
            elbv2.register(registration["arn"], instance_id, registration.get("port"))
        except AwsCallFailed as exc:
            if code_behind(exc) == "TargetGroupNotFound" or "TargetGroupNotFound" in str(exc):
                if deleted is not None:
                    deleted.append(registration["arn"])
                continue
            gone = gone_state(instance_id)
            if gone is None:
                raise
            # Terminated since (by a person, Spot, its ASG): no put-back can ever succeed, so retrying it every
            # sweep would fail (and announce) forever. Said once, and the remediation is closed.
            return arns, gone
        arns.append(registration["arn"])
    return arns, None


def terminating_now(instance_id: str, standby: dict[str, Any] | None) -> str | None:
    """Why ``instance_id`` is being terminated, or None: the termination drain's mark (a lifecycle hook or a Spot
    warning, steps/store/terminating.py), else, for an Auto Scaling member (``standby`` planned), its lifecycle
    state ``Terminating``/``Terminating:Wait``/``Terminating:Proceed``."""
    mark = terminating.find(instance_id)
    if mark is not None:
        return f"{mark.kind} termination, drained by {mark.execution}"
    if standby:
        membership = autoscaling.membership(instance_id)
        if membership is not None and membership.lifecycle_state.startswith(autoscaling.TERMINATING_PREFIX):
            return f"Auto Scaling lifecycle state {membership.lifecycle_state}"
    return None


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
