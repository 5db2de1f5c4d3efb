"""The escalation rungs send each mutating request once, whatever AWS answers (issue: a throttled
StopInstances or SetInstanceHealth used to be recorded as sent and never re-sent).

Faults are injected at the AWS layer: a throttle refuses the call before it takes effect; a lost answer
lets it take effect and then raises a read timeout to the step. Counts are of requests AWS accepted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow


def broken(new_host_cures: bool, asg: bool = False) -> FleetSpec:
    spec = InstanceSpec(leak_to_percent=85.0, app_fails=True, new_host_cures=new_host_cures)
    return FleetSpec(leaking={LEAKER: spec}, auto_scaling=AutoScalingSpec(min_size=2) if asg else None)


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(result["output"])["outcome"])


@pytest.mark.parametrize("operation", ["StopInstances", "StartInstances"])
def test_a_throttled_stop_or_start_is_sent_again_and_heals(harness: Any, operation: str) -> None:
    h = harness(broken(new_host_cures=True), health={"deadline_seconds": 120})
    h.rt.inject("ec2", operation, "RequestLimitExceeded", "Request limit exceeded.", times=1)
    result = h.run()
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "remediated", result.get("cause")
    assert [what for what, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
    assert "STOP_STARTED" in h.audit_events() and "RUNG_TIMED_OUT" not in h.audit_events()


@pytest.mark.parametrize("operation", ["StopInstances", "StartInstances"])
def test_a_stop_or_start_whose_answer_was_lost_is_not_sent_twice(harness: Any, operation: str) -> None:
    h = harness(broken(new_host_cures=True), health={"deadline_seconds": 120})
    h.rt.inject_after("ec2", operation, times=1)
    result = h.run()
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "remediated", result.get("cause")
    # one accepted StopInstances and one StartInstances for the whole remediation
    assert [what for what, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
    assert h.in_service_everywhere(h.leaker)


def test_a_throttled_set_instance_health_is_sent_again_and_the_asg_replaces(harness: Any) -> None:
    h = harness(broken(new_host_cures=False, asg=True), health={"deadline_seconds": 120})
    h.rt.inject("auto-scaling", "SetInstanceHealth", "Throttling", "Rate exceeded", times=1)
    result = h.run()
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "replaced", result.get("cause")
    assert h.sim.api_calls()["autoscaling.SetInstanceHealth"] == 1
    assert h.sim.asg_lifecycle(h.leaker) in ("Terminating", None)


def test_a_set_instance_health_whose_answer_was_lost_is_not_sent_twice(harness: Any) -> None:
    h = harness(broken(new_host_cures=False, asg=True), health={"deadline_seconds": 120})
    h.rt.inject_after("auto-scaling", "SetInstanceHealth", times=1)
    result = h.run()
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "replaced", result.get("cause")
    assert h.sim.api_calls()["autoscaling.SetInstanceHealth"] == 1
    assert not h.lock_held()
