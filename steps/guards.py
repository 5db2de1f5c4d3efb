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
    instance_records = [r for r in audit.for_instance(instance_id) if now - float(r.at) < instance_window]
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


# ELBv2 TargetHealth states of a target on its way out of a target group (not serving there any more).
LEAVING = frozenset({"draining", "unhealthy.draining"})


def _registered_in(target_group_arn: str, instance_id: str) -> str | None:
    """The instance's state in a target group another group declares; None when it is not registered there
    or the target group no longer exists (a deleted target group serves no one: that group's own runs fail
    their validation, this one's need not)."""
    try:
        return elbv2.target_states(target_group_arn, [instance_id]).get(instance_id)
    except AwsCallFailed as exc:
        cause = exc.__cause__
        if isinstance(cause, ClientError) and error_code(cause) == "TargetGroupNotFound":
            return None
        raise


def serves_another_group(group: GroupConfig, instance_id: str) -> str | None:
    """Why ``instance_id`` must not be rebooted, stopped or replaced by ``group``: it is registered (and not
    leaving) in a target group that another declared group guards, or None.

    A reboot takes an instance out of every target group it serves in, but ``group`` drains it only from its
    own and checks only its own floor: the other group's target group would lose it undrained, unannounced
    and uncounted, while that group may be taking one of its own out (two out of one target group at once;
    found by the overlapping-groups property, docs/design.md "Instances shared by two groups"). Such an
    instance is passed over (or, found later, put back) with this reason; the fix is to declare both target
    groups in one group. One DescribeTargetHealth (filtered to the instance) per target group of the other
    groups."""
    for other in groups.load().groups:
        if other.name == group.name:
            continue
        for arn in other.target_group_arns:
            state = _registered_in(arn, instance_id)
            if state is not None and state not in LEAVING:
                where = arn.split("/")[-2] if arn.count("/") >= 2 else arn
                return (f"{instance_id} also serves ({state}) in target group {where}, which group {other.name!r} "
                        f"guards: a reboot would take it out of {where} undrained and below {other.name!r}'s "
                        f"floor unchecked. Declare {', '.join(group.target_group_arns)} and {arn} "
                        "in one group to heal it")
    return None
