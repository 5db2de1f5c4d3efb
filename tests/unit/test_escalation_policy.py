"""The pure parts of Auto Scaling awareness and the escalation ladder: config, lifecycle, Standby policy,
blockers. The workflow tests run the same code end to end."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from steps.aws.autoscaling import GroupSize
from steps.core.config import BlockerSpec, parse_groups
from steps.core.exceptions import ConfigurationError
from steps.domain.blockers import FactRecord, blocking
from steps.domain.blockers.asg_activity import asg_busy
from steps.domain.blockers.asg_state import asg_not_in_service
from steps.domain.lifecycle import Lifecycle, MachineError
from steps.remediate.standby import should_decrement

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/0123456789abcdef"


def group(**fields: Any) -> dict[str, Any]:
    return {"groups": [{"name": "web", "target_group_arns": [TG], **fields}]}


def test_the_default_ladder_is_stop_start_then_replace_then_leave_out() -> None:
    rungs = parse_groups(group()).group("web").escalation.rungs
    assert [(r.action, r.deadline_seconds) for r in rungs] == [("stop_start", 900), ("replace", 1200),
                                                               ("leave_out", 300)]


@pytest.mark.parametrize(("rungs", "message"), [
    ([{"action": "stop_start"}, {"action": "stop_start"}], "each rung action may appear once; repeated: stop_start"),
    ([{"action": "leave_out"}, {"action": "replace"}], "leave_out ends the ladder: put it last"),
    ([{"action": "reboot"}], "escalation.rungs.0.action"),
    ([{"action": "replace", "deadline_seconds": 10}], "escalation.rungs.0.deadline_seconds"),
])
def test_a_bad_ladder_names_the_field_and_the_fix(rungs: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        parse_groups(group(escalation={"rungs": rungs}))


def test_max_reboots_per_day_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("escalation.max_reboots_per_day")):
        parse_groups(group(escalation={"max_reboots_per_day": 0}))


@pytest.mark.parametrize("source", ["draining", "rebooting", "booting", "verifying", "escalating"])
def test_the_ladder_starts_from_a_failed_boot_or_verification_or_right_after_the_drain(source: str) -> None:
    assert Lifecycle(source).fire("escalate") == "escalating"


@pytest.mark.parametrize("source", ["requested", "selected", "healthy", "restored", "replaced", "left_out"])
def test_nothing_escalates_before_it_left_service_or_after_it_ended(source: str) -> None:
    with pytest.raises(MachineError):
        Lifecycle(source).fire("escalate")


def test_stop_start_rejoins_registration_and_the_other_rungs_end() -> None:
    assert Lifecycle("escalating").fire("restart") == "registering"
    assert Lifecycle("escalating").fire("replace") == "replaced"
    assert Lifecycle("escalating").fire("leave_out") == "left_out"
    assert Lifecycle("escalating").fire("restore") == "restored"
    for ended in ("replaced", "left_out"):
        for trigger in ("restore", "restart", "leave_out", "replace"):
            with pytest.raises(MachineError):
                Lifecycle(ended).fire(trigger)


@pytest.mark.parametrize(("min_size", "desired", "decrement"), [
    # written by hand: decrement only when desired - 1 still satisfies MinSize
    (0, 1, True), (0, 0, False), (2, 3, True), (2, 2, False), (3, 2, False), (1, 12, True), (12, 12, False),
    (11, 12, True),
])
def test_standby_decrements_only_when_min_size_allows(min_size: int, desired: int, decrement: bool) -> None:
    assert should_decrement(GroupSize("asg", min_size, 100, desired, ())) is decrement


def facts(**fields: Any) -> FactRecord:
    return FactRecord(now=datetime(2026, 11, 23, 3, 0, tzinfo=UTC), **fields)


@pytest.mark.parametrize("state", ["Standby", "EnteringStandby", "Pending", "Terminating", "Terminating:Wait"])
def test_an_instance_not_in_service_in_its_asg_is_blocked(state: str) -> None:
    block = asg_not_in_service(BlockerSpec(), facts(asg_group="web-asg", asg_lifecycle=state))
    assert block is not None and block.code == "SKIPPED_ASG_STATE" and state in block.reason


def test_in_service_or_outside_any_asg_is_not_blocked() -> None:
    assert asg_not_in_service(BlockerSpec(), facts(asg_group="web-asg", asg_lifecycle="InService")) is None
    assert asg_not_in_service(BlockerSpec(), facts()) is None
    assert asg_busy(BlockerSpec(), facts(asg_group="web-asg")) is None


def test_asg_activity_blocks_with_every_activity_named() -> None:
    busy = ["scaling activity: Launching a new EC2 instance (InProgress)", "instance refresh r-1 (InProgress)"]
    found = blocking(BlockerSpec(), facts(asg_group="web-asg", asg_lifecycle="InService", asg_activity=busy))
    assert [b.code for b in found] == ["SKIPPED_ASG_ACTIVITY"]
    assert all(text in found[0].reason for text in busy)
