"""The fail-open guard follows AWS's documented rules end to end (the real remediate.asl.json in the local runtime
against the simulator): per Availability Zone when the target group's cross-zone load balancing is off, and at the
target group's unhealthy_state_routing minimum (docs/aws-behaviour.md, "Fail open"). Each case is refused with
SKIPPED_FAIL_OPEN and no DeregisterTargets, reboot or stop is sent; the same fleet with the guard removed (or
cross-zone on) is taken out, so the guard is what refuses."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from steps.remediate import blockers

pytestmark = pytest.mark.workflow
MakeHarness = Any
LEAKER = 1  # in us-east-1b with 3 and 5 (instances go round-robin over the two zones)
AZS = ("us-east-1a", "us-east-1b")
CROSS_ZONE = "load_balancing.cross_zone.enabled"
ROUTING_COUNT = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count"
ROUTING_PERCENT = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage"
MUTATING = ("elbv2.DeregisterTargets", "ec2.RebootInstances", "ec2.StopInstances", "autoscaling.EnterStandby")


def calls(h: Any, operation: str) -> int:
    return int(h.sim.api_calls().get(operation, 0))


def _fleet(harness: MakeHarness, failing: tuple[int, ...], **attributes: str) -> Any:
    """Six instances over two zones, the leaker (the metric's choice) healthy, ``failing`` unhealthy; the
    attributes set on both target groups through ModifyTargetGroupAttributes. A floor of one healthy target."""
    spec = FleetSpec(size=6, azs=AZS, leaking={
        LEAKER: InstanceSpec(leak_to_percent=85.0),
        **{i: InstanceSpec(fault="app_failing", fault_at=0.0) for i in failing}})  # type: ignore[arg-type]
    h = harness(spec, min_healthy=1, min_healthy_percent=0)
    elbv2 = h.rt.client("elbv2")
    for tg in h.built.target_group_arns:
        elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
            {"Key": k, "Value": v} for k, v in attributes.items()])
    h.rt.clock.advance(30)  # the failing ones turn unhealthy
    h.leaker_id = h.built.instance_ids[LEAKER]
    assert {h.sim.target_state(h.built.instance_ids[i], tg) for i in failing
            for tg in h.built.target_group_arns} == {"unhealthy"}
    return h


def _refused(h: Any) -> None:
    assert h.run()["status"] == "SUCCEEDED"
    assert h.audit_events()[-2:] == ["SELECTED", "SKIPPED_FAIL_OPEN"]
    assert h.audit_records()[-2]["instance_id"] == h.leaker_id
    for operation in MUTATING:
        assert calls(h, operation) == 0, operation
    assert not h.sim.deregister_requests and not h.lock_held()


def _taken_out(h: Any) -> None:
    h.run()
    assert calls(h, "elbv2.DeregisterTargets") > 0
    assert "SKIPPED_FAIL_OPEN" not in h.audit_events()


def test_cross_zone_off_and_the_candidate_the_last_healthy_target_of_its_zone_is_refused(
        harness: MakeHarness) -> None:
    # us-east-1b: the leaker healthy, 3 and 5 unhealthy. Without the leaker its node routes to 3 and 5. The
    # target group as a whole keeps 3 healthy (0, 2, 4), so the floor and the old per-group rule would allow it.
    h = _fleet(harness, (3, 5), **{CROSS_ZONE: "false"})
    _refused(h)
    reason = h.audit_records()[-1]["reason"]
    assert "in us-east-1b would have 0 healthy of 3 registered without the candidate" in reason
    # The load balancer (the simulator, as AWS documents) routes to the healthy targets only, for now.
    tg = h.built.target_group_arns[0]
    assert h.sim.routed_targets(tg) == {h.built.instance_ids[i] for i in (0, 1, 2, 4)}


def test_cross_zone_off_without_the_guard_the_same_instance_is_taken_out(
        harness: MakeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockers, "refusing_fail_open", lambda decision, *_args, **_kwargs: decision)
    _taken_out(_fleet(harness, (3, 5), **{CROSS_ZONE: "false"}))


def test_cross_zone_on_the_same_fleet_is_healed(harness: MakeHarness) -> None:
    # The ALB's default (use_load_balancer_configuration: on): the zone does not count on its own.
    h = _fleet(harness, (3, 5))
    assert h.run()["status"] == "SUCCEEDED"
    assert "SKIPPED_FAIL_OPEN" not in h.audit_events() and calls(h, "elbv2.DeregisterTargets") > 0


def test_below_the_unhealthy_state_routing_minimum_count_without_the_candidate_is_refused(
        harness: MakeHarness) -> None:
    # 5 healthy of 6 (3 failing), minimum 5: the leaker out leaves 4 < 5, and the load balancer would route to 3.
    h = _fleet(harness, (3,), **{ROUTING_COUNT: "5"})
    _refused(h)
    assert "would have 4 healthy of 6 registered without the candidate, below its unhealthy_state_routing " \
           "minimum of 5" in h.audit_records()[-1]["reason"]


def test_below_the_minimum_count_without_the_guard_the_same_instance_is_taken_out(
        harness: MakeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockers, "refusing_fail_open", lambda decision, *_args, **_kwargs: decision)
    _taken_out(_fleet(harness, (3,), **{ROUTING_COUNT: "5"}))


def test_already_below_the_minimum_percentage_is_refused_and_the_load_balancer_routes_to_all(
        harness: MakeHarness) -> None:
    # 4 healthy of 6 is 66%, below 70%: failing open now; the simulated load balancer routes to every target.
    h = _fleet(harness, (3, 5), **{ROUTING_PERCENT: "70"})
    tg = h.built.target_group_arns[0]
    assert h.sim.routed_targets(tg) == set(h.built.instance_ids)
    _refused(h)
    assert "has 4 healthy of 6 registered, below its unhealthy_state_routing minimum of 1 or 70%" in \
           h.audit_records()[-1]["reason"]


def test_a_threshold_aws_does_not_accept_is_refused_by_the_simulated_api(harness: MakeHarness) -> None:
    h = harness(FleetSpec(size=2, leaking={}))
    elbv2 = h.rt.client("elbv2")
    tg = h.built.target_group_arns[0]
    with pytest.raises(Exception, match="must be off or an integer from 1 to 100"):
        elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": ROUTING_PERCENT, "Value": "0"}])
    got = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]}
    assert got[ROUTING_COUNT] == "1" and got[ROUTING_PERCENT] == "off"  # AWS's documented defaults
