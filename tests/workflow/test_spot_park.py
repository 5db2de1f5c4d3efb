"""A Spot instance EC2 stops or hibernates in an interruption is parked, and put back once EC2 restarts it.

"Only Amazon EC2 can restart an interrupted stopped Spot Instance"; for a persistent request "Amazon EC2 restarts
the stopped instance when capacity is available" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
interruption-behavior.html), and RegisterTargets needs the instance running ("it must be in the running state when
you register it", https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_RegisterTargets.html).
The real drain and sweep ASL in the local runtime; the simulator's Spot interruption (``spot_interrupt``) and EC2's
own restart (``spot_restart``, no API call)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import audit, parked, terminating
from tests.harness import LEAKER, invoke

pytestmark = pytest.mark.workflow

QUIET = 0  # the Spot instance the tests interrupt (not the leaker)


def fleet() -> FleetSpec:
    return FleetSpec(default=InstanceSpec(inflight_seconds=0.0), leaking={})


def deliver(h: Any, event: dict[str, Any]) -> dict[str, Any]:
    started: dict[str, Any] = invoke("termination-trigger", event)
    started["execution"] = h.rt.wait(started["execution_arn"], timeout=120)
    return started


def sweep(h: Any) -> list[Any]:
    """One sweep to its end; the AWS calls it made."""
    mark = len(h.rt.api_calls())
    assert h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)["status"] == "SUCCEEDED"
    return h.rt.api_calls()[mark:]


def registrations(calls: list[Any], instance: str) -> list[Any]:
    """Every RegisterTargets naming ``instance``, refused ones included."""
    return [c for c in calls if c.operation == "RegisterTargets" and any(t["Id"] == instance
                                                                            for t in c.params["Targets"])]


def events_for(instance: str) -> list[str]:
    return [r.event for r in audit.for_instance(instance)]


def health(h: Any, instance: str) -> dict[str, str]:
    elbv2 = h.rt.client("elbv2")
    states = {}
    for arn in h.built.target_group_arns:
        for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            if d["Target"]["Id"] == instance:
                states[arn] = d["TargetHealth"]["State"]
    return states


def parked_and_stopped(h: Any, action: str) -> tuple[str, float]:
    """The instance interrupted with ``action``, drained and parked, and stopped by EC2 (checked)."""
    instance = h.built.instance_ids[QUIET]
    event = h.sim.spot_interrupt(instance, action)
    warned_at = h.rt.clock.now()
    result = deliver(h, event)
    assert result["execution"]["status"] == "SUCCEEDED"
    deregs = [c for c in h.rt.api_calls() if c.operation == "DeregisterTargets" and c.accepted
              and any(t["Id"] == instance for t in c.params["Targets"])]
    assert sorted(c.params["TargetGroupArn"] for c in deregs) == sorted(h.built.target_group_arns)
    assert not [c for c in h.rt.api_calls() if c.operation == "CompleteLifecycleAction"]
    record = parked.find(instance)
    assert record is not None and record.action == action and record.parked_for == "web"
    assert sorted(r["arn"] for r in record.registrations()) == sorted(h.built.target_group_arns)
    assert terminating.find(instance) is not None  # remediations stay stopped while it is out
    h.rt.clock.advance_to(warned_at + 200)
    assert h.sim.instance_state(instance) == "stopped"
    return instance, warned_at


@pytest.mark.parametrize("action", ["stop", "hibernate"])
def test_a_spot_stop_is_parked_then_registered_back_once_ec2_restarts_it(harness: Any, action: str) -> None:
    # GIVEN a Spot instance EC2 interrupts with stop (two minutes' warning) or hibernate (none)
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance, _ = parked_and_stopped(h, action)
    drained = next(r for r in audit.for_instance(instance) if r.event == "TERMINATION_DEREGISTERED")
    if action == "hibernate":
        assert drained.details["budget_seconds"] == 0
    else:
        assert 0 < drained.details["budget_seconds"] <= 120
    assert events_for(instance).index("SPOT_PARKED") < events_for(instance).index("TERMINATION_DRAINED")
    # WHEN a sweep runs while it is stopped: nothing registered, nothing said, still parked
    calls = sweep(h)
    assert not registrations(calls, instance)
    assert "SPOT_UNPARKED" not in events_for(instance) and parked.find(instance) is not None
    # WHEN EC2 restarts it (capacity is back), and it has booted
    assert h.sim.spot_restart(instance)
    h.rt.clock.advance(120)
    assert h.sim.instance_state(instance) == "running"
    calls = sweep(h)
    # THEN the sweep registered it in both target groups it left, and the park record and the mark are gone
    sent = registrations(calls, instance)
    assert sorted(c.params["TargetGroupArn"] for c in sent if c.accepted) == sorted(h.built.target_group_arns)
    assert all(c.accepted for c in sent)
    assert parked.find(instance) is None and terminating.find(instance) is None
    unparked = next(r for r in audit.for_instance(instance) if r.event == "SPOT_UNPARKED")
    assert sorted(unparked.details["target_groups"]) == sorted(h.built.target_group_arns)
    h.rt.clock.advance(120)
    assert set(health(h, instance).values()) == {"healthy"}
    # and Nightshift never asked EC2 to start it: only EC2 may
    assert not [c for c in h.rt.api_calls() if c.operation == "StartInstances"]
    # a later sweep does nothing more
    assert not registrations(sweep(h), instance)
    assert events_for(instance).count("SPOT_UNPARKED") == 1


def test_a_sweep_during_the_two_minutes_registers_nothing(harness: Any) -> None:
    # GIVEN a stop warning: the instance still runs for two minutes, out of its target groups
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    deliver(h, h.sim.spot_interrupt(instance, "stop"))
    assert h.sim.instance_state(instance) == "running"
    # WHEN a sweep runs then: "running" is its last two minutes, not a restart
    assert not registrations(sweep(h), instance)
    assert parked.find(instance) is not None


def test_a_parked_instance_terminated_meanwhile_is_dropped(harness: Any) -> None:
    # GIVEN a parked, stopped Spot instance that someone terminates ("You can terminate a Spot Instance while it is
    # stopped", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html)
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance, _ = parked_and_stopped(h, "stop")
    now = h.rt.clock.now()
    h.sim.asg_terminate(instance, now, now, now + 30)
    h.rt.clock.advance(60)
    assert h.sim.instance_state(instance) == "terminated"
    # WHEN the sweep runs
    calls = sweep(h)
    # THEN the park record is dropped, audited, nothing registered
    assert not registrations(calls, instance)
    assert parked.find(instance) is None
    assert events_for(instance).count("SPOT_PARK_DROPPED") == 1
    sweep(h)
    assert events_for(instance).count("SPOT_PARK_DROPPED") == 1


def test_a_spot_termination_is_not_parked_and_never_registered_again(harness: Any) -> None:
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    event = h.sim.spot_interrupt(instance)
    assert event["detail"]["instance-action"] == "terminate"
    assert deliver(h, event)["execution"]["status"] == "SUCCEEDED"
    assert parked.find(instance) is None and terminating.find(instance) is not None
    assert "SPOT_PARKED" not in events_for(instance)
    h.rt.clock.advance(300)
    assert h.sim.instance_state(instance) == "terminated"
    assert not registrations(sweep(h), instance)


def test_a_park_overdue_is_warned_once_and_left_parked(harness: Any) -> None:
    # GIVEN a Spot instance EC2 stopped and has not restarted for more than seven days
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance, _ = parked_and_stopped(h, "stop")
    h.rt.clock.advance(parked.OVERDUE_SECONDS)
    # WHEN two sweeps run
    first, second = sweep(h), sweep(h)
    # THEN it is still parked, nothing registered or started, and the warning was written once
    assert not registrations(first + second, instance)
    assert not [c for c in first + second if c.operation == "StartInstances"]
    assert parked.find(instance) is not None
    assert events_for(instance).count("SPOT_PARK_OVERDUE") == 1


def restarted(h: Any, action: str = "stop") -> str:
    instance, _ = parked_and_stopped(h, action)
    assert h.sim.spot_restart(instance)
    h.rt.clock.advance(120)
    assert h.sim.instance_state(instance) == "running"
    return instance


def test_a_later_termination_drain_owns_the_instance_so_it_stays_parked(harness: Any) -> None:
    # GIVEN a parked instance EC2 restarted, and a later termination drain's mark on it (a new interruption)
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance = restarted(h)
    terminating.mark(instance, "spot", "a-later-drain", h.rt.clock.now())
    # WHEN the sweep runs: nothing registered, the later drain's mark kept, still parked
    assert not registrations(sweep(h), instance)
    mark = terminating.find(instance)
    assert mark is not None and mark.execution == "a-later-drain"
    assert parked.find(instance) is not None


def test_a_failed_registration_is_tried_again_by_the_next_sweep(harness: Any) -> None:
    # GIVEN a parked instance EC2 restarted, and RegisterTargets failing (5xx) once for the reconciler
    h = harness(fleet(), drain={"signal": "ssm", "poll_seconds": 10})
    instance = restarted(h)
    h.rt.inject("elastic-load-balancing-v2", "RegisterTargets", "ServiceUnavailable", status=503, times=1,
                function="nightshift-reconcile")
    # WHEN a sweep runs: it still succeeds, the instance stays parked, nothing said to be back
    first = sweep(h)
    assert [c.accepted for c in registrations(first, instance)] == [False]
    assert parked.find(instance) is not None and "SPOT_UNPARKED" not in events_for(instance)
    # THEN the next sweep registers it in both target groups
    sent = registrations(sweep(h), instance)
    assert sorted(c.params["TargetGroupArn"] for c in sent if c.accepted) == sorted(h.built.target_group_arns)
    assert parked.find(instance) is None and events_for(instance).count("SPOT_UNPARKED") == 1


@pytest.mark.parametrize("moment", ["DEREGISTERED", "REBOOT_REQUESTED"])
def test_a_spot_stop_mid_remediation_stops_it_and_the_sweep_puts_it_back_after_the_restart(harness: Any,
                                                                                          moment: str) -> None:
    # GIVEN a remediation of the leaker that has deregistered it: still draining (listed `draining` in its target
    # groups), or rebooting (in no target group any more: only its lifecycle record knows where it was)
    # (a 30 s deregistration delay: over before the reboot, so a rebooting instance is listed in no target group)
    h = harness(FleetSpec(default=InstanceSpec(inflight_seconds=None), deregistration_delay=30,
                          leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, inflight_seconds=None)}))
    remediation = h.rt.start({"group": "web"})
    deadline = time.monotonic() + 60
    while moment not in h.audit_events():
        assert time.monotonic() < deadline, f"the remediation never got to {moment}"
        time.sleep(0.01)
    # WHEN EC2 interrupts it with stop
    warned_at = h.rt.clock.now()
    assert deliver(h, h.sim.spot_interrupt(h.leaker, "stop"))["execution"]["status"] == "SUCCEEDED"
    # THEN the remediation stops and puts nothing back (the mark is there while the instance is out)
    assert h.rt.wait(remediation, timeout=120)["status"] == "SUCCEEDED"
    assert "REMEDIATION_STOPPED_TERMINATING" in h.audit_events()
    assert not registrations(h.rt.api_calls(), h.leaker)
    # and it is parked with the target groups the remediation took it out of
    record = parked.find(h.leaker)
    assert record is not None
    assert sorted(r["arn"] for r in record.registrations()) == sorted(h.built.target_group_arns)
    h.rt.clock.advance_to(warned_at + 200)
    assert h.sim.instance_state(h.leaker) == "stopped"
    assert not registrations(sweep(h), h.leaker)
    # WHEN EC2 restarts it: the next sweep registers it back, and nothing ever started it but EC2
    assert h.sim.spot_restart(h.leaker)
    h.rt.clock.advance(120)
    # (the sweep may then start a remediation of the leaker, which still leaks: only the reconciler's calls count)
    sent = [c for c in registrations(sweep(h), h.leaker) if c.function == "nightshift-reconcile"]
    assert sorted(c.params["TargetGroupArn"] for c in sent if c.accepted) == sorted(h.built.target_group_arns)
    assert not [c for c in h.rt.api_calls() if c.operation == "StartInstances"]
    assert parked.find(h.leaker) is None and terminating.find(h.leaker) is None
