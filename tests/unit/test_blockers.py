"""Each blocker on its own, every expected Block written out by hand (code, reason, numbers), with the
boundary of each window and limit on both sides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from steps.core.config import BlockerSpec
from steps.domain import blockers
from steps.domain.blockers import Block, FactRecord

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # a Monday, 03:00 UTC
T = NOW.timestamp()


def facts(**fields: Any) -> FactRecord:
    return FactRecord(now=NOW, **fields)


def spec(**fields: Any) -> BlockerSpec:
    return BlockerSpec.model_validate(fields)


def test_paused() -> None:
    assert blockers.paused.group_paused(spec(), facts()) is None
    assert blockers.paused.group_paused(spec(), facts(paused_reason="storm")) == Block(
        "SKIPPED_PAUSED", "the group is paused: storm; `nightshift resume` lifts it")
    assert blockers.paused.group_paused(spec(), facts(paused_reason="")) is not None  # paused, even without a reason


def test_excluded() -> None:
    assert blockers.excluded.instance_excluded(spec(), facts(instance_tags={"team": "web"})) is None
    assert blockers.excluded.instance_excluded(spec(), facts(instance_tags={"nightshift:exclude": "yes"})) == Block(
        "SKIPPED_EXCLUDED", "the instance is tagged nightshift:exclude", {"tag": "nightshift:exclude", "value": "yes"})
    custom = spec(exclude_tag="hands-off")
    assert blockers.excluded.instance_excluded(custom, facts(instance_tags={"nightshift:exclude": "yes"})) is None
    assert blockers.excluded.instance_excluded(custom, facts(instance_tags={"hands-off": ""})) == Block(
        "SKIPPED_EXCLUDED", "the instance is tagged hands-off", {"tag": "hands-off", "value": ""})


def test_alarm() -> None:
    assert blockers.alarm.blocking_alarm(spec(), facts()) is None
    assert blockers.alarm.blocking_alarm(spec(), facts(alarms_in_alarm=["deploy", "incident"])) == Block(
        "SKIPPED_ALARM", "blocking alarm(s) in ALARM: deploy, incident", {"alarms": ["deploy", "incident"]})


def test_window() -> None:
    assert blockers.window.outside_window(spec(), facts()) is None  # no windows: always open
    assert blockers.window.outside_window(spec(maintenance_windows=["Mon-Fri 01:00-05:00"]), facts()) is None
    assert blockers.window.outside_window(spec(maintenance_windows=["Sat-Sun 01:00-05:00"]), facts()) == Block(
        "SKIPPED_WINDOW", "outside the maintenance windows ['Sat-Sun 01:00-05:00'] (now Mon 03:00 UTC)",
        {"windows": ["Sat-Sun 01:00-05:00"]})


@pytest.mark.parametrize(("reboots_ago", "cooldown", "expected"), [
    ([], 3600, None),
    ([3600], 3600, None),  # exactly the cooldown ago: allowed again
    ([3599], 3600, (3599, "the instance was rebooted 3599 s ago; cooldown is 3600 s")),
    ([7200, 100, 50000], 3600, (100, "the instance was rebooted 100 s ago; cooldown is 3600 s")),  # the latest
    ([10], 0, None),  # no cooldown
])
def test_instance_cooldown(reboots_ago: list[float], cooldown: int, expected: tuple[int, str] | None) -> None:
    block = blockers.cooldown.instance_cooldown(spec(instance_cooldown_seconds=cooldown),
                                       facts(instance_reboots_at=[T - a for a in reboots_ago]))
    if expected is None:
        assert block is None
    else:
        assert block == Block("SKIPPED_COOLDOWN", expected[1], {"last_reboot_seconds_ago": expected[0],
                                                                "cooldown_seconds": cooldown})


@pytest.mark.parametrize(("remediations_ago", "gap", "expected"), [
    ([100], 0, None),  # no gap configured
    ([], 600, None),
    ([600], 600, None),
    ([599], 600, "the group was remediated 599 s ago; minimum gap is 600 s"),
    ([5000, 30], 600, "the group was remediated 30 s ago; minimum gap is 600 s"),
])
def test_group_gap(remediations_ago: list[float], gap: int, expected: str | None) -> None:
    block = blockers.gap.group_gap(spec(group_min_gap_seconds=gap),
                               facts(group_remediations_at=[T - a for a in remediations_ago]))
    if expected is None:
        assert block is None
    else:
        assert block == Block("SKIPPED_COOLDOWN", expected, {"group_min_gap_seconds": gap})


STORM = {"max_remediations": 3, "max_failures": 2, "window_seconds": 3600}


@pytest.mark.parametrize(("remediations_ago", "failures_ago", "reason"), [
    ([10, 20], [30], None),  # 2 < 3 and 1 < 2
    ([10, 20, 3600], [30, 3600], None),  # exactly the window ago no longer counts
    ([10, 20, 3599], [], "3 remediations of the group in the last 3600 s (limit 3): pausing the group"),
    ([], [1, 2], "2 failed remediations of the group in the last 3600 s (limit 2): pausing the group"),
    ([1, 2, 3], [1, 2], "3 remediations of the group in the last 3600 s (limit 3): pausing the group"),  # first
])
def test_storm(remediations_ago: list[float], failures_ago: list[float], reason: str | None) -> None:
    block = blockers.storm.storm(spec(storm=STORM), facts(group_remediations_at=[T - a for a in remediations_ago],
                                                      group_failures_at=[T - a for a in failures_ago]))
    if reason is None:
        assert block is None
        return
    counted = {"remediations": len([a for a in remediations_ago if a < 3600]),
               "failures": len([a for a in failures_ago if a < 3600])}
    assert block == Block("STORM_BREAKER", reason, {**counted, "max_remediations": 3, "max_failures": 2,
                                                    "window_seconds": 3600}, trips_storm_breaker=True)


def test_asg_state_and_activity_in_full() -> None:
    assert blockers.asg_state.asg_not_in_service(spec(), facts(asg_group="web-asg", asg_lifecycle="Standby")) == Block(
        "SKIPPED_ASG_STATE", "the instance is Standby in Auto Scaling group web-asg: someone (an operator or the "
        "ASG) is already handling it", {"asg": "web-asg", "lifecycle_state": "Standby"})
    assert blockers.asg_activity.asg_busy(spec(), facts(asg_group="web-asg", asg_activity=["a", "b"])) == Block(
        "SKIPPED_ASG_ACTIVITY", "Auto Scaling group web-asg is busy: a; b", {"asg": "web-asg", "activity": ["a", "b"]})


def test_blocking_lists_every_blocker_that_applies_in_order() -> None:
    everything = facts(paused_reason="p", instance_tags={"nightshift:exclude": "1"}, alarms_in_alarm=["a"],
                       instance_reboots_at=[T - 1], group_remediations_at=[T - 1, T - 2, T - 3],
                       asg_group="g", asg_lifecycle="Pending", asg_activity=["x"])
    found = blockers.blocking(spec(storm=STORM, group_min_gap_seconds=60,
                                     maintenance_windows=["Sat 01:00-02:00"]), everything)
    assert [b.code for b in found] == ["SKIPPED_PAUSED", "STORM_BREAKER", "SKIPPED_EXCLUDED", "SKIPPED_ALARM",
                                       "SKIPPED_WINDOW", "SKIPPED_COOLDOWN", "SKIPPED_COOLDOWN",
                                       "SKIPPED_ASG_STATE", "SKIPPED_ASG_ACTIVITY"]
    assert blockers.blocking(spec(), facts()) == []
