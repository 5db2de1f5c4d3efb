"""Blockers: small named checks, each with a reason code (kured's shape). Pure: the step gathers the
facts, these decide. ``blocking`` returns every blocker that applies, so the audit says all of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from steps.config import GuardSpec
from steps.domain.window import inside_any
from steps.reasons import Reason


@dataclass(frozen=True)
class Facts:
    """What the blockers look at, gathered once by the capacity step."""

    now: datetime
    paused_reason: str | None = None
    instance_tags: dict[str, str] = field(default_factory=dict)
    alarms_in_alarm: list[str] = field(default_factory=list)
    instance_reboots_at: list[float] = field(default_factory=list)  # this instance's reboot requests
    group_remediations_at: list[float] = field(default_factory=list)  # the group's reboot requests
    group_failures_at: list[float] = field(default_factory=list)
    # Auto Scaling: the instance's group and lifecycle state (None: in no ASG), unfinished activity there.
    asg_group: str | None = None
    asg_lifecycle: str | None = None
    asg_activity: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Block:
    code: Reason
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)
    trips_storm_breaker: bool = False


Blocker = Callable[[GuardSpec, Facts], Block | None]


def group_paused(guards: GuardSpec, facts: Facts) -> Block | None:
    if facts.paused_reason is None:
        return None
    return Block(Reason.SKIPPED_PAUSED, f"the group is paused: {facts.paused_reason}; `nightshift resume` lifts it")


def instance_excluded(guards: GuardSpec, facts: Facts) -> Block | None:
    if guards.exclude_tag not in facts.instance_tags:
        return None
    return Block(Reason.SKIPPED_EXCLUDED, f"the instance is tagged {guards.exclude_tag}",
                 {"tag": guards.exclude_tag, "value": facts.instance_tags[guards.exclude_tag]})


def blocking_alarm(guards: GuardSpec, facts: Facts) -> Block | None:
    if not facts.alarms_in_alarm:
        return None
    return Block(Reason.SKIPPED_ALARM, f"blocking alarm(s) in ALARM: {', '.join(facts.alarms_in_alarm)}",
                 {"alarms": facts.alarms_in_alarm})


def outside_window(guards: GuardSpec, facts: Facts) -> Block | None:
    if inside_any(guards.maintenance_windows, facts.now):
        return None
    return Block(Reason.SKIPPED_WINDOW, f"outside the maintenance windows {guards.maintenance_windows} "
                 f"(now {facts.now.strftime('%a %H:%M')} UTC)", {"windows": guards.maintenance_windows})


def _within(times: list[float], now: float, seconds: float) -> list[float]:
    return [t for t in times if now - t < seconds]


def instance_cooldown(guards: GuardSpec, facts: Facts) -> Block | None:
    recent = _within(facts.instance_reboots_at, facts.now.timestamp(), guards.instance_cooldown_seconds)
    if not recent:
        return None
    ago = facts.now.timestamp() - max(recent)
    return Block(Reason.SKIPPED_COOLDOWN, f"the instance was rebooted {ago:.0f} s ago; cooldown is "
                 f"{guards.instance_cooldown_seconds} s", {"last_reboot_seconds_ago": round(ago),
                                                            "cooldown_seconds": guards.instance_cooldown_seconds})


def group_gap(guards: GuardSpec, facts: Facts) -> Block | None:
    if not guards.group_min_gap_seconds:
        return None
    recent = _within(facts.group_remediations_at, facts.now.timestamp(), guards.group_min_gap_seconds)
    if not recent:
        return None
    ago = facts.now.timestamp() - max(recent)
    return Block(Reason.SKIPPED_COOLDOWN, f"the group was remediated {ago:.0f} s ago; minimum gap is "
                 f"{guards.group_min_gap_seconds} s", {"group_min_gap_seconds": guards.group_min_gap_seconds})


def storm(guards: GuardSpec, facts: Facts) -> Block | None:
    spec = guards.storm
    now = facts.now.timestamp()
    remediations = len(_within(facts.group_remediations_at, now, spec.window_seconds))
    failures = len(_within(facts.group_failures_at, now, spec.window_seconds))
    numbers = {"remediations": remediations, "failures": failures, "max_remediations": spec.max_remediations,
               "max_failures": spec.max_failures, "window_seconds": spec.window_seconds}
    if remediations >= spec.max_remediations:
        return Block(Reason.STORM_BREAKER, f"{remediations} remediations of the group in the last "
                     f"{spec.window_seconds} s (limit {spec.max_remediations}): pausing the group", numbers,
                     trips_storm_breaker=True)
    if failures >= spec.max_failures:
        return Block(Reason.STORM_BREAKER, f"{failures} failed remediations of the group in the last "
                     f"{spec.window_seconds} s (limit {spec.max_failures}): pausing the group", numbers,
                     trips_storm_breaker=True)
    return None


def asg_not_in_service(guards: GuardSpec, facts: Facts) -> Block | None:
    if facts.asg_lifecycle in (None, "InService"):
        return None
    return Block(Reason.SKIPPED_ASG_STATE, f"the instance is {facts.asg_lifecycle} in Auto Scaling group "
                 f"{facts.asg_group}: someone (an operator or the ASG) is already handling it",
                 {"asg": facts.asg_group, "lifecycle_state": facts.asg_lifecycle})


def asg_busy(guards: GuardSpec, facts: Facts) -> Block | None:
    if not facts.asg_activity:
        return None
    return Block(Reason.SKIPPED_ASG_ACTIVITY, f"Auto Scaling group {facts.asg_group} is busy: "
                 f"{'; '.join(facts.asg_activity)}", {"asg": facts.asg_group, "activity": facts.asg_activity})


BLOCKERS: tuple[Blocker, ...] = (group_paused, storm, instance_excluded, blocking_alarm, outside_window,
                                 instance_cooldown, group_gap, asg_not_in_service, asg_busy)


def blocking(guards: GuardSpec, facts: Facts) -> list[Block]:
    return [block for check in BLOCKERS if (block := check(guards, facts)) is not None]
