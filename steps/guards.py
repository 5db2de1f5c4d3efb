"""Gather the facts the blockers need and apply them; trip the storm breaker. Shared by the capacity
step (before deregistering) and anything else that is about to take capacity."""

from __future__ import annotations

from dataclasses import dataclass

from steps import clock
from steps.aws import alarms, autoscaling, ec2, elbv2
from steps.config import GroupConfig
from steps.domain.blockers import Block, Facts, blocking
from steps.domain.capacity import CapacityDecision, healthy_after_removal
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
