"""Gather the facts the blockers need and apply them; trip the storm breaker. Shared by the capacity
step (before deregistering) and anything else that is about to take capacity."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from steps import clock, groups
from steps.aws import alarms, autoscaling, ec2, elbv2
from steps.aws.errors import error_code
from steps.config import GroupConfig
from steps.domain.blockers import Block, Facts, blocking
from steps.domain.capacity import CapacityDecision, healthy_after_removal
from steps.exceptions import AwsCallFailed
from steps.store import audit, pause

REMEDIATION_EVENTS = {"REBOOT_REQUESTED"}
# A remediation that ended without healing counts towards the storm breaker's failure limit, once however
# many of its executions (the original and its replays) failed.
FAILURE_EVENTS = {"FAILED", "LEFT_OUT_OF_SERVICE"}
DAY_SECONDS = 86400


def gather(group: GroupConfig, instance_id: str) -> Facts:
    guards = group.guards
    now = clock.now()
    window = max(guards.storm.window_seconds, guards.group_min_gap_seconds)
    group_records = list(audit.for_group(group.name, since=now - window))
    # One query serves both the cooldown blocker and the reboots-per-day count.
    instance_window = max(guards.instance_cooldown_seconds, DAY_SECONDS)
    instance_records = [r for r in audit.for_instance(instance_id, since=now - instance_window)
                        if now - float(r.at) < instance_window]  # the query is to the second; this is exact
    flag = pause.paused(group.name)
    member = autoscaling.membership(instance_id) if group.auto_scaling.enabled else None
    activity = (autoscaling.activity_in_progress(member.group)
                if member is not None and group.auto_scaling.block_on_activity else [])
    return Facts(
        now=clock.now_dt(),
        paused_reason=flag.reason if flag else None,
        instance_tags=ec2.instance_tags(instance_id),
        alarms_in_alarm=alarms.in_alarm(guards.blocking_alarms),
        instance_reboots_at=audit.times_of(iter(instance_records), REMEDIATION_EVENTS),
        group_remediations_at=audit.times_of(iter(group_records), REMEDIATION_EVENTS),
        group_failures_at=audit.times_per_remediation(iter(group_records), FAILURE_EVENTS),
        asg_group=member.group if member else None,
        asg_lifecycle=member.lifecycle_state if member else None,
        asg_activity=activity,
    )


def reboots_in(facts: Facts, seconds: float) -> int:
    """How many reboots of the instance Nightshift requested in the last ``seconds`` (at most a day)."""
    now = facts.now.timestamp()
    return len([t for t in facts.instance_reboots_at if now - t < seconds])


def blocks(group: GroupConfig, facts: Facts) -> list[Block]:
    found = blocking(group.guards, facts)
    tripped = next((b for b in found if b.trips_storm_breaker), None)
    if tripped:
        pause.pause(group.name, tripped.reason, clock.now(), "storm breaker")
    return found


@dataclass(frozen=True)
class CapacityNow:
    decision: CapacityDecision
    states: dict[str, dict[str, str]]


def capacity_now(group: GroupConfig, instance_id: str) -> CapacityNow:
    """Fresh target health in every target group, and whether ``instance_id`` may be out of service."""
    states = elbv2.group_target_states(group.target_group_arns)
    zones = None
    if group.per_az:
        zones = ec2.availability_zones({i for members in states.values() for i in members})
    decision = healthy_after_removal(states, instance_id, group.floor, group.min_healthy_percent, zones)
    return CapacityNow(decision, states)


def refuse_if_paused(group: GroupConfig, instance_id: str, before: str) -> str | None:
    """The pause flag again, right before a mutating call (the capacity check may be minutes old: a drain
    lasts up to the deregistration delay). The reason when paused, else None."""
    flag = pause.paused(group.name)
    if flag is None:
        return None
    return f"not {before} {instance_id}: the group was paused ({flag.reason}); `nightshift resume` lifts it"


def _registrations(target_group_arn: str, instance_id: str, other: str) -> list[str]:
    """The instance's states in a target group another group declares (one per port it is registered on;
    empty when it is not registered there, or the target group no longer exists: a deleted target group
    serves no one, and that group's own runs fail their validation, this one's need not). Any other error
    fails the step, naming what was being checked: never assumed unshared."""
    try:
        return elbv2.registrations_of(target_group_arn, instance_id)
    except AwsCallFailed as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and error_code(cause) == "TargetGroupNotFound":
            return []
        raise AwsCallFailed(f"checking whether {instance_id} also serves in group {other!r} (its target group "
                            f"{target_group_arn}): {exc}") from cause


def serves_another_group(group: GroupConfig, instance_id: str) -> str | None:
    """Why ``group`` must not take ``instance_id`` out of service (drain it, reboot, stop or replace it): it is
    registered, in any state, in a target group that another declared group guards; or None.

    A reboot (or a stop, a replacement) takes an instance out of service in every target group it is in: it
    fails their health checks and its connections are cut. ``group`` drains it only from its own target groups
    and checks only its own floor: the other group's target group would lose it undrained, unannounced and
    uncounted, while that group may be taking one of its own out (two out of one target group at once; found by
    the overlapping-groups property; docs/design.md "Instances shared by two groups"). Every state counts, not
    only ``healthy``: ``draining`` still serves its in-flight requests until the deregistration delay ends, and
    an NLB's ``unhealthy.draining`` keeps its established connections and turns ``healthy`` again if the target
    recovers (docs/aws-behaviour.md). Such an instance is passed over (or, found later, put back) with this
    reason. One DescribeTargetHealth per target group of the other groups, listing every target (not filtered
    to the instance: a filter names a port, and an instance may be registered on several; an instance id asked
    of an IP or Lambda target group, or of another VPC's, is an InvalidTarget error)."""
    for other in groups.load().groups:
        if other.name == group.name:
            continue
        for arn in other.target_group_arns:
            states = _registrations(arn, instance_id, other.name)
            if states:
                where = arn.split("/")[-2] if arn.count("/") >= 2 else arn
                return (f"{instance_id} is registered ({', '.join(states)}) in target group {where}, which group "
                        f"{other.name!r} guards: taking it out of service would cut its connections there "
                        f"undrained and leave the floor of group {other.name!r} unchecked. To heal it, move {arn} "
                        f"into group {group.name!r} (or merge the two groups)")
    return None
