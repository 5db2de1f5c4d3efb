"""Step: mark the instance terminating, report the group's capacity, read the hook, deregister it everywhere.

The instance's group was found by the trigger (the declared group whose target groups hold it); an instance in
no declared group is let go at once (``TERMINATION_NO_GROUP``). So is the instance a lifecycle event names when
Auto Scaling does not say it is terminating in the event's group (DescribeAutoScalingInstances: a lifecycle
state ``Terminating*`` in ``AutoScalingGroupName``), ``TERMINATION_NOT_TERMINATING``: a forged or mistaken event
(whoever may invoke the trigger) takes nothing out of service and marks nothing. Otherwise, in this order:

1. the terminating mark (steps/store/terminating.py): from now on a remediation of this instance stops at its
   next poll and nothing puts it back (restore, replay, reconciler, register step);
2. capacity *reported* (``TERMINATION_CAPACITY``): the instance is going whatever the floor says;
3. for a lifecycle hook, its HeartbeatTimeout (DescribeLifecycleHooks): the check step records a heartbeat
   before it runs out;
4. DeregisterTargets from every target group of the group where it is registered (and of any other declared
   group: an instance can be registered in the target groups of two) (the remediation's
   ``registrations_of`` / ``deregister_all``). The drain budget is the longest deregistration delay; for a Spot
   interruption, no more than what is left of the two minutes less ``SPOT_MARGIN_SECONDS``.

A Spot interruption whose ``instance-action`` is ``stop`` or ``hibernate`` takes the instance out for a while, not
for good: only EC2 restarts it (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html).
Before deregistering it, this step parks it (steps/store/parked.py: its group, the target groups it is leaving,
the action, the event's time; ``SPOT_PARKED``): the sweep's reconciler registers it back once EC2 reports it
running again, and only then deletes its terminating mark. The drain itself is the same as for ``terminate``.
"""

from __future__ import annotations

from typing import Any

from steps.aws import autoscaling, elbv2
from steps.core import groups
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import LifecycleConflict
from steps.core.reasons import Reason
from steps.remediate.deregister_instance import deregister_all, registrations_of
from steps.store import claim, lifecycle, parked, terminating

NO_GROUP = "unmanaged"  # request.group of an instance in no declared group (the trigger sets it)
SPOT_WARNING_SECONDS = 120  # "a warning that is issued two minutes before Amazon EC2 stops or terminates"
SPOT_MARGIN_SECONDS = 10  # the drain ends this long before the Spot instance goes


def spot_budget(event_time: float, now: float, instance_action: str | None = None) -> int:
    """Seconds the Spot drain may last: what is left of the two minutes, less the margin (never negative). A
    hibernation has none: "you do not receive a two-minute warning because the hibernation process begins
    immediately" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html)."""
    if instance_action == "hibernate":
        return 0
    return max(0, int(event_time + SPOT_WARNING_SECONDS - SPOT_MARGIN_SECONDS - now))


def taken_out_by(holder: claim.InstanceClaim | None, instance_id: str) -> list[dict[str, Any]]:
    """The target groups the remediation holding ``instance_id`` has deregistered it from (its lifecycle record):
    a parked instance goes back there too, since that remediation stops and puts nothing back."""
    if holder is None:
        return []
    try:
        record = lifecycle.load(str(holder.remediation_id))
    except LifecycleConflict:  # no record (expired): nothing known
        return []
    deregistration = (record.facts or {}).get("deregister") or {}
    if deregistration.get("instance_id") != instance_id:
        return []
    return [dict(r) for r in deregistration.get("target_groups") or []]


@step
def prepare_termination_drain(ctx: StepContext) -> dict[str, Any]:
    termination = ctx.require(ctx.state.termination, "termination", "the trigger always sets it")
    instance_id = termination.instance_id
    if ctx.state.request.group == NO_GROUP:
        ctx.audit(Reason.TERMINATION_NO_GROUP,
                  f"{instance_id} is in no declared group: nothing to drain, let go at once",
                  instance_id=instance_id, kind=termination.kind)
        return {"action": "complete", "started_at": ctx.now}
    if termination.kind == "lifecycle":
        membership = autoscaling.membership(instance_id)
        if (membership is None or membership.group != termination.auto_scaling_group
                or not membership.lifecycle_state.startswith(autoscaling.TERMINATING_PREFIX)):
            found = (f"{membership.lifecycle_state} in {membership.group}" if membership is not None
                     else "in no Auto Scaling group")
            ctx.audit(Reason.TERMINATION_NOT_TERMINATING,
                      f"{instance_id} is {found}, not terminating in {termination.auto_scaling_group}: nothing "
                      "deregistered or marked", instance_id=instance_id,
                      auto_scaling_group=termination.auto_scaling_group,
                      found_group=membership.group if membership is not None else None,
                      lifecycle_state=membership.lifecycle_state if membership is not None else None)
            return {"action": "complete", "started_at": ctx.now}
    group = ctx.group
    terminating.mark(instance_id, termination.kind, ctx.execution_id, ctx.now)
    holder = claim.holder(instance_id)
    # Capacity: reported, never a blocker (the instance goes whatever we decide).
    states = elbv2.group_target_states(group.target_group_arns)
    healthy = {arn: sum(1 for i, s in members.items() if s == "healthy" and i != instance_id)
               for arn, members in states.items()}
    below = sorted(arn for arn, n in healthy.items() if n < group.min_healthy)
    ctx.audit(Reason.TERMINATION_CAPACITY,
              f"without {instance_id}: {min(healthy.values(), default=0)} healthy target(s) at least per target "
              f"group (min_healthy {group.min_healthy})" + (f"; below the floor in {len(below)}" if below else ""),
              instance_id=instance_id, healthy_without=healthy, min_healthy=group.min_healthy,
              below_floor=below)
    heartbeat = None
    if termination.kind == "lifecycle" and termination.auto_scaling_group and termination.hook:
        heartbeat = autoscaling.lifecycle_hook(termination.auto_scaling_group, termination.hook).heartbeat_seconds
    # Every declared target group it is registered in: its own group's first, then any other group's (an instance
    # registered in two groups' target groups would otherwise keep taking requests from one until it went).
    arns = list(dict.fromkeys([*group.target_group_arns,
                               *(arn for other in groups.load().groups for arn in other.target_group_arns)]))
    registrations, delay = registrations_of(arns, instance_id)
    budget = delay if termination.kind == "lifecycle" else min(delay, spot_budget(termination.event_time, ctx.now,
                                                                              termination.instance_action))
    parks = termination.kind == "spot" and termination.instance_action in parked.PARKING_ACTIONS
    if parks:
        # Write-ahead: the target groups are on record before it leaves them (a deregistration failing half way
        # still leaves everything it was in to be registered back).
        record = parked.park(instance_id, group.name, [*registrations, *taken_out_by(holder, instance_id)],
                             str(termination.instance_action),
                             termination.event_time, ctx.execution_id, ctx.now)
        ctx.audit(Reason.SPOT_PARKED,
                  f"{instance_id} is being {'stopped' if termination.instance_action == 'stop' else 'hibernated'} by "
                  f"a Spot interruption, not terminated: parked in {len(record.target_groups)} target group(s); "
                  "the sweep registers it back once EC2 restarts it (only EC2 may)", instance_id=instance_id,
                  action=termination.instance_action, target_groups=[r["arn"] for r in record.registrations()],
                  event_time=termination.event_time)
    deregister_all(instance_id, registrations)
    stopped = holder.owner if holder is not None else None
    ctx.audit(Reason.TERMINATION_DEREGISTERED,
              f"deregistered terminating {instance_id} from {len(registrations)} target group(s); drain budget "
              f"{budget} s (deregistration delay {delay} s)"
              + (f"; the remediation {stopped} holding it stops" if stopped else ""),
              instance_id=instance_id, target_groups=[r["arn"] for r in registrations], delay_seconds=delay,
              budget_seconds=budget, remediation_stopped=stopped, parked=parks)
    deregistration = {"instance_id": instance_id, "target_groups": registrations, "at": ctx.now,
                      "delay_seconds": budget}
    return {"action": "drain", "deregistration": deregistration, "heartbeat_seconds": heartbeat,
            "started_at": ctx.now}


handler = prepare_termination_drain
