"""The termination drain's pure rules: the trigger refuses what is not one of its two events (naming what it
expects, before any AWS call), names executions stably, and the heartbeat cadence keeps every gap below the
hook's heartbeat timeout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steps.core.exceptions import InvalidRequest
from steps.drain.check_termination_drain import capped_wait, heartbeat_due
from steps.drain.prepare_termination_drain import spot_budget
from steps.triggers.termination_trigger import LifecycleActionEvent, execution_name, parse_event

INSTANCE = "i-0123456789abcdef0"


def lifecycle_event(**detail: Any) -> dict[str, Any]:
    return {"version": "0", "id": "1", "detail-type": "EC2 Instance-terminate Lifecycle Action",
            "source": "aws.autoscaling", "account": "123456789012", "time": "2026-11-28T01:02:03Z",
            "region": "us-east-1", "resources": ["arn"],
            "detail": {"LifecycleActionToken": "87654321-4321-4321-4321-210987654321", "AutoScalingGroupName": "asg",
                       "LifecycleHookName": "hook", "EC2InstanceId": INSTANCE,
                       "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", **detail}}


def spot_event(**detail: Any) -> dict[str, Any]:
    return {"version": "0", "id": "2", "detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2",
            "account": "123456789012", "time": "2026-11-28T01:02:03Z", "region": "us-east-1", "resources": [],
            "detail": {"instance-id": INSTANCE, "instance-action": "terminate", **detail}}


def test_both_events_parse() -> None:
    assert isinstance(parse_event(lifecycle_event()), LifecycleActionEvent)
    assert parse_event(spot_event()).detail.instance_id == INSTANCE  # type: ignore[union-attr]


@pytest.mark.parametrize(("event", "field"), [
    (lifecycle_event(LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING"), "LifecycleTransition"),
    (lifecycle_event(EC2InstanceId="i-123\n"), "EC2InstanceId"),
    (spot_event(**{"instance-id": "not-an-instance"}), "instance-id"),
    ({"Records": [{"Sns": {"Message": "{}"}}]}, "detail-type"),
])
def test_anything_else_is_refused_naming_the_field_and_the_two_expected_events(event: dict[str, Any],
                                                                               field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_event(event)
    message = str(raised.value)
    assert "EC2 Instance-terminate Lifecycle Action" in message and "EC2 Spot Instance Interruption Warning" in message
    assert field in message


def test_a_lifecycle_action_is_named_by_its_token_and_a_spot_warning_by_instance_and_time() -> None:
    assert execution_name(parse_event(lifecycle_event())) == "hook-87654321-4321-4321-4321-210987654321"
    assert execution_name(parse_event(spot_event())) == f"spot-{INSTANCE}-20261128T010203"


@given(st.text(min_size=1, max_size=200))
def test_execution_names_are_valid_for_any_token(token: str) -> None:
    name = execution_name(parse_event(lifecycle_event(LifecycleActionToken=token)))
    assert len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", name)


def test_the_spot_budget_is_what_is_left_of_two_minutes_less_the_margin() -> None:
    assert spot_budget(1000.0, 1000.0) == 110
    assert spot_budget(1000.0, 1030.0) == 80
    assert spot_budget(1000.0, 1200.0) == 0


@settings(max_examples=300)
@given(heartbeat=st.integers(30, 7200), data=st.data())
def test_heartbeats_never_leave_a_gap_as_long_as_the_timeout(heartbeat: int, data: st.DataObject) -> None:
    # A loop of turns: each turn takes up to a third of the timeout less a second (the step and its retries),
    # asks for any Wait, records a heartbeat when one is due, and waits the capped Wait.
    now = last = 0.0
    for _ in range(data.draw(st.integers(1, 40))):
        now += data.draw(st.floats(0, heartbeat / 3 - 1))
        if heartbeat_due(now, last, heartbeat):
            last = now
        assert now - last < heartbeat
        now += capped_wait(data.draw(st.integers(1, 3600)), heartbeat)
        assert now - last < heartbeat
