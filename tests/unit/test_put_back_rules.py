"""The put-back rules on fakes of the AWS ports, each case written by hand: when Standby is left, when a
stopped instance is started first, what the result reports."""

from __future__ import annotations

from typing import Any

import pytest

from steps.aws.autoscaling import Membership
from steps.core.exceptions import AwsUnavailable
from steps.remediate import put_back
from steps.remediate import standby as standby_module

INSTANCE = "i-0123456789abcdef0"
PLAN = {"group": "web-asg", "decrement": False, "desired_before": 3}


@pytest.mark.parametrize(("standby", "lifecycle_state", "outcome", "exits"), [
    (None, "Standby", "not_needed", False),  # we never put it in Standby: not ours to end
    ({}, "Standby", "not_needed", False),
    (PLAN, None, "not_needed", False),  # in no Auto Scaling group (any more)
    (PLAN, "InService", "not_needed", False),  # already out of Standby
    (PLAN, "EnteringStandby", "waiting", False),  # ExitStandby would fail until it is in Standby
    (PLAN, "Standby", "exited", True),
    (PLAN, "Pending", "not_needed", False),  # the ASG owns it now
    (PLAN, "Terminating", "not_needed", False),
])
def test_leave_standby(monkeypatch: Any, standby: dict[str, Any] | None, lifecycle_state: str | None, outcome: str,
                       exits: bool) -> None:
    exited: list[tuple[str, str]] = []
    member = None if lifecycle_state is None else Membership("web-asg", lifecycle_state, "Healthy")
    monkeypatch.setattr(standby_module.autoscaling, "membership", lambda i: member if i == INSTANCE else None)
    monkeypatch.setattr(standby_module.autoscaling, "exit_standby", lambda group, i: exited.append((group, i)))
    assert standby_module.leave_standby(INSTANCE, standby) == outcome
    assert exited == ([("web-asg", INSTANCE)] if exits else [])


@pytest.mark.parametrize(("progress", "state", "raises", "starts"), [
    ({}, "stopped", False, False),  # the rung never asked EC2 to stop it: nothing to undo
    ({"stop_intended_at": 1.0}, "stopped", True, True),
    ({"stop_sent_at": 1.0}, "stopped", True, True),
    ({"stop_requested_at": 1.0}, "stopped", True, True),  # a record written before the rename, mid-upgrade
    ({"start_sent_at": 1.0}, "stopped", False, False),  # no stop of ours on record: someone else stopped it
    ({"stop_sent_at": 1.0}, "stopping", True, False),  # wait for it, the restore Task retries
    ({"stop_sent_at": 1.0}, "pending", True, False),
    ({"stop_sent_at": 1.0}, "running", False, False),
])
def test_start_if_stopped(monkeypatch: Any, progress: dict[str, Any], state: str, raises: bool,
                          starts: bool) -> None:
    started: list[str] = []
    monkeypatch.setattr(put_back.ec2, "power", lambda i: (state if i == INSTANCE else "terminated", False, "seen"))
    monkeypatch.setattr(put_back.ec2, "start_instance", started.append)
    facts = {"stop_start": progress} if progress else {}
    if raises:
        message = (f"started {INSTANCE} again after an interrupted stop/start; registering it once it is running"
                   if starts else f"{INSTANCE} is {state} (seen); it is registered once it is running")
        with pytest.raises(AwsUnavailable) as raised:
            put_back.start_if_stopped(INSTANCE, facts)
        assert str(raised.value) == message
    else:
        put_back.start_if_stopped(INSTANCE, facts)
    assert started == ([INSTANCE] if starts else [])


def test_the_numbers_name_every_fact() -> None:
    result = put_back.PutBack(INSTANCE, ["tg-a", "tg-b"], "exited", True)
    assert result.numbers() == {"target_groups": ["tg-a", "tg-b"], "standby": "exited", "being_replaced": True}
    assert put_back.PutBack(None).numbers() == {"target_groups": [], "standby": "not_needed",
                                                "being_replaced": False}


class _Mark:
    kind = "spot"
    execution = "arn:aws:states:us-east-1:123456789012:execution:nightshift-drain:spot-x"


@pytest.mark.parametrize(("standby", "lifecycle_state", "marked", "terminating"), [
    (None, None, False, None),  # nothing says it is going: put back
    (None, None, True, "spot termination, drained by arn:aws:states:us-east-1:123456789012:execution:"
                       "nightshift-drain:spot-x"),  # a Spot warning (no Auto Scaling state says so)
    (PLAN, "InService", False, None),
    (PLAN, "Terminating:Wait", False, "Auto Scaling lifecycle state Terminating:Wait"),  # a hook, no drain ran
    (PLAN, "Terminating:Proceed", False, "Auto Scaling lifecycle state Terminating:Proceed"),
    (PLAN, "Terminating", False, "Auto Scaling lifecycle state Terminating"),  # no hook
    (None, "Terminating:Wait", False, None),  # not recorded as an ASG member: only the mark can tell
])
def test_a_terminating_instance_is_never_registered_again(monkeypatch: Any, standby: dict[str, Any] | None,
                                                          lifecycle_state: str | None, marked: bool,
                                                          terminating: str | None) -> None:
    registered: list[str] = []
    member = None if lifecycle_state is None else Membership("web-asg", lifecycle_state, "Healthy")
    monkeypatch.setattr(put_back.terminating, "find", lambda i: _Mark() if marked and i == INSTANCE else None)
    monkeypatch.setattr(put_back.autoscaling, "membership", lambda i: member if i == INSTANCE else None)
    monkeypatch.setattr(standby_module.autoscaling, "membership", lambda i: member if i == INSTANCE else None)
    monkeypatch.setattr(put_back.elbv2, "register", lambda arn, i, port=None: registered.append(arn))
    facts = {"deregister": {"instance_id": INSTANCE, "target_groups": [{"arn": "tg-1", "port": 443}],
                            "standby": standby}}
    result = put_back.put_back(facts)
    assert result.terminating == terminating
    assert registered == ([] if terminating else ["tg-1"])
