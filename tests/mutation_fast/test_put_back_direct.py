"""Putting an instance back (steps/remediate/put_back.py, its Standby steps/remediate/standby.py) on moto and the
fleet simulator: the requests it sends for each thing the lifecycle facts say was taken away, and nothing for
what was not."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from nightshift.sim import FleetSpec
from nightshift.sim.spec import AutoScalingSpec
from steps.aws.autoscaling import GroupSize
from steps.core.exceptions import AwsUnavailable
from steps.remediate import put_back, standby
from steps.store import reconcile_progress
from tests.harness import Direct, direct_session


@pytest.fixture
def asg_at_min() -> Iterator[Direct]:
    spec = FleetSpec(size=6, leaking={}, metric_history_seconds=60, auto_scaling=AutoScalingSpec(min_size=6))
    with direct_session(spec) as made:
        yield made


@pytest.mark.parametrize(("desired", "min_size", "decrement"), [(6, 1, True), (6, 5, True), (6, 6, False),
                                                                 (1, 0, True), (1, 1, False)])
def test_decrement_only_when_min_size_allows(desired: int, min_size: int, decrement: bool) -> None:
    assert standby.should_decrement(GroupSize("asg", min_size, 10, desired, ())) is decrement


def test_no_deregistration_recorded_puts_nothing_back(direct: Direct) -> None:
    mark = direct.mark()
    assert put_back.put_back({}) == put_back.PutBack(None)
    assert put_back.put_back({"select": {"instance_id": direct.instance}, "deregister": None}) == \
        put_back.PutBack(None)
    assert direct.changes_since(mark) == []


def test_registered_again_in_every_target_group_on_its_recorded_port(direct: Direct) -> None:
    record = direct.take_out()
    assert direct.out_of_service()
    mark = direct.mark()
    result = put_back.put_back(record.facts)
    assert result == put_back.PutBack(direct.instance, [direct.tgs[0], direct.tgs[1]], "not_needed", False)
    assert direct.changes_since(mark) == direct.register_requests()
    assert direct.in_service()


def test_a_registration_without_a_port_is_registered_without_one(direct: Direct) -> None:
    facts = {"deregister": {"instance_id": direct.instance, "target_groups": [{"arn": direct.tgs[0]}]}}
    mark = direct.mark()
    assert put_back.put_back(facts).target_groups == [direct.tgs[0]]
    assert direct.changes_since(mark) == [("RegisterTargets", {"TargetGroupArn": direct.tgs[0],
                                                               "Targets": [{"Id": direct.instance}]})]


def test_an_instance_marked_unhealthy_for_replacement_is_not_registered(direct: Direct) -> None:
    record = direct.take_out(replace={"marked_sent_at": direct.now()})
    mark = direct.mark()
    assert put_back.put_back(record.facts) == put_back.PutBack(direct.instance, being_replaced=True)
    assert direct.changes_since(mark) == []


def test_a_mark_only_intended_counts_when_the_asg_no_longer_knows_the_instance(direct: Direct) -> None:
    # not in any Auto Scaling group: an intended mark reads as "terminated and gone"
    record = direct.take_out(replace={"mark_intended_at": direct.now()})
    mark = direct.mark()
    assert put_back.put_back(record.facts).being_replaced is True
    assert direct.changes_since(mark) == []


def test_a_mark_intended_but_not_in_effect_is_registered_back(direct_asg: Direct) -> None:
    record = direct_asg.take_out(replace={"mark_intended_at": direct_asg.now()})  # InService and Healthy in its ASG
    mark = direct_asg.mark()
    result = put_back.put_back(record.facts)
    assert result.being_replaced is False and result.target_groups == direct_asg.tgs
    assert direct_asg.changes_since(mark) == direct_asg.register_requests()


def test_an_instance_a_stop_start_left_stopped_is_started_and_not_yet_registered(direct: Direct) -> None:
    direct.rt.client("ec2").stop_instances(InstanceIds=[direct.instance])
    direct.rt.clock.advance(120)
    assert direct.sim.instance_state(direct.instance) == "stopped"
    record = direct.take_out(stop_start={"stop_sent_at": direct.now()})
    mark = direct.mark()
    with pytest.raises(AwsUnavailable, match=r"started .* again after an interrupted stop/start"):
        put_back.put_back(record.facts)
    assert direct.changes_since(mark) == [("StartInstances", {"InstanceIds": [direct.instance]})]


def test_enter_standby_outside_an_asg_plans_nothing(direct: Direct) -> None:
    mark = direct.mark()
    assert standby.enter_standby(direct.instance) is None
    assert direct.changes_since(mark) == []


def test_enter_standby_plans_the_decrement_the_min_size_allows(direct_asg: Direct, ) -> None:
    plan = standby.enter_standby(direct_asg.instance)
    assert plan == {"group": "web-asg", "decrement": True, "desired_before": 6, "min_size": 1,
                    "lifecycle_before": "InService"}


def test_at_min_size_standby_is_planned_without_decrement_and_sent_so(asg_at_min: Direct) -> None:
    d = asg_at_min
    plan = standby.enter_standby(d.instance)
    assert plan == {"group": "web-asg", "decrement": False, "desired_before": 6, "min_size": 6,
                    "lifecycle_before": "InService"}
    mark = d.mark()
    assert standby.send_standby(d.instance, plan, fresh=True) is True
    assert d.changes_since(mark) == [("EnterStandby", {"AutoScalingGroupName": "web-asg",
                                                       "InstanceIds": [d.instance],
                                                       "ShouldDecrementDesiredCapacity": False})]


def test_send_standby_once_then_never_again(direct_asg: Direct) -> None:
    plan = standby.enter_standby(direct_asg.instance)
    assert plan is not None
    mark = direct_asg.mark()
    assert standby.send_standby(direct_asg.instance, plan, fresh=True) is True
    assert direct_asg.changes_since(mark) == [("EnterStandby", {"AutoScalingGroupName": "web-asg",
                                                         "InstanceIds": [direct_asg.instance],
                                                         "ShouldDecrementDesiredCapacity": True})]
    # a Retry of the step: the plan still says InService, the ASG no longer does
    mark = direct_asg.mark()
    assert standby.send_standby(direct_asg.instance, plan, fresh=False) is False
    assert direct_asg.changes_since(mark) == []


def test_a_fresh_plan_not_in_service_sends_nothing(direct_asg: Direct) -> None:
    mark = direct_asg.mark()
    plan = {"group": "web-asg", "decrement": True, "lifecycle_before": "Standby"}
    assert standby.send_standby(direct_asg.instance, plan, fresh=True) is False
    assert direct_asg.changes_since(mark) == []


def test_a_retry_whose_plan_is_stale_reads_the_asg_and_sends(direct_asg: Direct) -> None:
    plan = {"group": "web-asg", "decrement": True, "lifecycle_before": "Standby"}  # the ASG says InService
    mark = direct_asg.mark()
    assert standby.send_standby(direct_asg.instance, plan, fresh=False) is True
    assert [op for op, _ in direct_asg.changes_since(mark)] == ["EnterStandby"]


def test_send_standby_outside_an_asg_on_a_retry_sends_nothing(direct: Direct) -> None:
    mark = direct.mark()
    assert standby.send_standby(direct.instance, {"group": "g", "decrement": True,
                                                   "lifecycle_before": "InService"}, fresh=False) is False
    assert direct.changes_since(mark) == []


def test_put_back_from_standby_exits_it_then_registers(direct_asg: Direct) -> None:
    record = direct_asg.take_out(standby=direct_asg.enter_standby())
    direct_asg.rt.clock.advance(400)  # past the deregistration delay: in Standby
    assert direct_asg.sim.asg_lifecycle(direct_asg.instance) == "Standby"
    mark = direct_asg.mark()
    result = put_back.put_back(record.facts)
    assert result == put_back.PutBack(direct_asg.instance, direct_asg.tgs, "exited", False)
    exit_standby = ("ExitStandby", {"AutoScalingGroupName": "web-asg", "InstanceIds": [direct_asg.instance]})
    assert direct_asg.changes_since(mark) == [exit_standby, *direct_asg.register_requests()]


class Ctx:
    """What audit_standby reads of the step context."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.state = SimpleNamespace(request=SimpleNamespace(group="web"))
        self.audited: list[tuple[str, str, dict[str, Any]]] = []

    def audit(self, event: str, reason: str, instance_id: str | None = None, **details: Any) -> None:
        self.audited.append((event, reason, {"instance_id": instance_id, **details}))


def test_audit_standby_exited(direct: Direct) -> None:
    ctx = Ctx(direct.now())
    standby.audit_standby(ctx, put_back.PutBack("i-1", ["tg"], "exited"))  # type: ignore[arg-type]
    assert ctx.audited == [("STANDBY_EXITED", "i-1 left Auto Scaling Standby", {"instance_id": "i-1"})]
    assert reconcile_progress.groups_with_work() == set()


def test_audit_standby_still_entering_leaves_it_to_the_reconciler(direct: Direct) -> None:
    ctx = Ctx(direct.now())
    standby.audit_standby(ctx, put_back.PutBack("i-1", ["tg"], "waiting"))  # type: ignore[arg-type]
    assert ctx.audited == [("STANDBY_EXIT_PENDING", "i-1 is registered again but still EnteringStandby (its "
                            "deregistration delay is running); the sweep's reconciler takes it out of Standby",
                            {"instance_id": "i-1"})]
    assert reconcile_progress.groups_with_work() == {"web"}


def test_audit_standby_not_needed_says_nothing(direct: Direct) -> None:
    ctx = Ctx(direct.now())
    standby.audit_standby(ctx, put_back.PutBack("i-1", ["tg"]))  # type: ignore[arg-type]
    assert ctx.audited == [] and reconcile_progress.groups_with_work() == set()
