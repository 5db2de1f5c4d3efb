"""Auto Scaling end to end: Standby around the reboot, never touching what the ASG or an operator owns,
and waiting while the ASG is busy. The fleet's ASG is the simulator's (moto's does not deregister,
validate min size or replace)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from tests.harness import LEAKER, invoke

pytestmark = pytest.mark.workflow


def asg_fleet(**asg: Any) -> FleetSpec:
    return FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)}, auto_scaling=AutoScalingSpec(**asg))


def details(h: Any, event: str) -> dict[str, Any]:
    return dict(next(r for r in h.audit_records() if r["event"] == event)["details"])


def test_an_asg_member_reboots_in_standby_and_comes_back_in_service(harness: Any) -> None:
    # GIVEN a fleet of 12 in an ASG whose MinSize (2) allows one fewer
    h = harness(asg_fleet(min_size=2))
    # WHEN the leaker is remediated
    result = h.run()
    # THEN it was in Standby (desired decremented) from before the deregistration until it was healthy
    assert result["status"] == "SUCCEEDED"
    events = h.audit_events()
    assert events.index("STANDBY_ENTERED") < events.index("DEREGISTERED") < events.index("REBOOT_REQUESTED")
    assert events.index("HEALTHY") > events.index("STANDBY_EXITED") > events.index("REGISTERED")
    assert details(h, "STANDBY_ENTERED")["decrement"] is True
    assert h.sim.asg_lifecycle(h.leaker) == "InService"
    assert h.sim.asg_desired_capacity() == 12 and h.sim.replacements() == []
    assert len(h.sim.reboots(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)
    assert not h.lock_held()
    assert all(h.sim.min_healthy_seen(tg) >= 11 for tg in h.built.target_group_arns)


def test_when_min_size_forbids_decrementing_the_asg_keeps_capacity_with_a_replacement(harness: Any) -> None:
    # GIVEN MinSize == the fleet's size: EnterStandby with decrement would be refused
    h = harness(asg_fleet(min_size=12))
    result = h.run()
    # THEN Standby without decrement: the ASG launched a stand-in, and scaled it in when ours came back
    assert result["status"] == "SUCCEEDED"
    assert details(h, "STANDBY_ENTERED")["decrement"] is False
    assert len(h.sim.replacements()) == 1
    stand_in = h.sim.replacements()[0]
    assert h.sim.asg_lifecycle(stand_in) != "InService"
    assert h.sim.instance_state(stand_in, at=h.rt.clock.now() + 900) == "terminated"
    assert h.sim.asg_desired_capacity() == 12
    assert h.sim.asg_lifecycle(h.leaker) == "InService" and h.in_service_everywhere(h.leaker)


def test_an_instance_already_in_standby_is_never_touched(harness: Any) -> None:
    # GIVEN an operator put the leaking instance in Standby; the ASG has no target groups attached, so it
    # is still registered in them and still looks like a candidate
    h = harness(asg_fleet(min_size=2, attach_target_groups=False))
    boto3.client("autoscaling", region_name="us-east-1").enter_standby(
        AutoScalingGroupName=h.built.auto_scaling_group, InstanceIds=[h.leaker], ShouldDecrementDesiredCapacity=True)
    # WHEN a remediation runs
    result = h.run()
    # THEN the leaker is passed over with its reason, and nothing is rebooted
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["outcome"]["status"] == "nothing_to_do"
    passed_over = next(r for r in h.audit_records() if r["event"] == "SKIPPED_ASG_STATE")
    assert passed_over["instance_id"] == h.leaker and "Standby" in passed_over["reason"]
    assert all(not h.sim.reboot_requests(i) for i in h.built.instance_ids)


@pytest.mark.parametrize("busy", ["activity_in_progress", "instance_refresh_in_progress"])
def test_asg_activity_in_progress_blocks_and_changes_nothing(harness: Any, busy: str) -> None:
    # GIVEN the ASG is scaling (or refreshing instances) right now
    h = harness(asg_fleet(min_size=2, **{busy: (0.0, 86400.0)}))
    result = h.run()
    # THEN the remediation is skipped with the reason, the leaker is untouched
    assert json.loads(result["output"])["outcome"] == {"status": "skipped", "code": "SKIPPED_ASG_ACTIVITY"}
    assert "STANDBY_ENTERED" not in h.audit_events() and "DEREGISTERED" not in h.audit_events()
    assert h.sim.asg_lifecycle(h.leaker) == "InService" and not h.sim.reboot_requests(h.leaker)
    assert not h.lock_held()


def test_a_failure_while_entering_standby_is_finished_by_the_reconciler(harness: Any) -> None:
    # GIVEN the reboot is refused while the instance is still EnteringStandby (the drain signal ended
    # the wait before the deregistration delay): the restore path registers it but cannot ExitStandby yet
    h = harness(asg_fleet(min_size=2))
    h.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "not allowed to reboot")
    result = h.run()
    assert result["status"] == "FAILED"
    events = h.audit_events()
    assert "RESTORED" in events and "STANDBY_EXIT_PENDING" in events
    assert h.in_service_everywhere(h.leaker)
    # WHEN the deregistration delay has passed and the sweep's reconciler runs
    h.rt.clock.advance(400)
    from steps.sweep import reconcile

    out = invoke(reconcile.handler, {"execution_id": "arn:aws:states:us-east-1:123456789012:execution:sweep:s1"})
    # THEN it took the instance out of Standby: the ASG's desired capacity is whole again
    assert out["groups"]["web"]["standby_exited"] == [h.leaker]
    assert h.sim.asg_lifecycle(h.leaker) == "InService" and h.sim.asg_desired_capacity() == 12
