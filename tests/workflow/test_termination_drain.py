"""The termination drain (statemachine/drain.asl.json) end to end: the real ASL in the local runtime, the
simulator's Auto Scaling termination lifecycle hook and Spot interruptions, the trigger invoked with the event
the simulator emitted (as EventBridge would deliver it)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec, TerminationHookSpec
from steps.store import audit
from tests.harness import LEAKER, invoke

pytestmark = pytest.mark.workflow

QUIET = 0  # the instance the tests terminate (not the leaker)


def hook_fleet(heartbeat: int = 60, inflight: float | None = 0.0, **fleet: Any) -> FleetSpec:
    # The ASG is not attached to the target groups: Nightshift's group declares them (the ASG's own attached
    # target groups would be drained by Auto Scaling itself).
    return FleetSpec(default=InstanceSpec(inflight_seconds=inflight), leaking=fleet.pop("leaking", {}),
                     auto_scaling=AutoScalingSpec(min_size=1, attach_target_groups=False,
                                                  termination_hook=TerminationHookSpec(heartbeat_timeout=heartbeat)),
                     **fleet)


def deliver(h: Any, event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge → the termination trigger; then the drain execution to its end."""
    started: dict[str, Any] = invoke("termination-trigger", event)
    started["execution"] = h.rt.wait(started["execution_arn"], timeout=120)
    return started


def calls(h: Any, operation: str) -> list[Any]:
    return [c for c in h.rt.api_calls() if c.operation == operation and c.accepted]


def events_for(instance_id: str) -> list[str]:
    return [r.event for r in audit.for_instance(instance_id)]


def test_a_scale_in_drains_with_heartbeats_then_completes_the_lifecycle_action(harness: Any) -> None:
    # GIVEN an instance whose requests take 200 s to finish after deregistration, and a hook whose heartbeat
    # timeout (60 s) is far shorter than that
    h = harness(hook_fleet(heartbeat=60, inflight=200.0), drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    # WHEN the ASG scales it in
    event = h.sim.scale_in(instance)
    assert event is not None and h.sim.asg_lifecycle(instance) == "Terminating:Wait"
    started_at = h.rt.clock.now()
    result = deliver(h, event)
    # THEN the drain succeeded, ended by the drain signal once the requests were done (not the hook timeout)
    assert result["started"] and result["group"] == "web"
    assert result["execution"]["status"] == "SUCCEEDED"
    # deregistered from both target groups at once
    deregs = [c for c in calls(h, "DeregisterTargets") if any(t["Id"] == instance for t in c.params["Targets"])]
    assert sorted(c.params["TargetGroupArn"] for c in deregs) == sorted(h.built.target_group_arns)
    # heartbeats: recorded at the API, each within the hook's heartbeat timeout of the previous one
    action = h.sim.lifecycle_action(instance)
    beats = [started_at, *action.heartbeats]
    assert len(action.heartbeats) >= 3
    assert all(b - a < 60 for a, b in itertools.pairwise(beats))
    # CompleteLifecycleAction CONTINUE, once, after the requests finished: none cut
    [complete] = calls(h, "CompleteLifecycleAction")
    assert complete.params["LifecycleActionResult"] == "CONTINUE"
    assert complete.params["LifecycleActionToken"] == event["detail"]["LifecycleActionToken"]
    assert action.completed_at is not None and action.completed_at - started_at >= 200
    h.rt.clock.advance(120)
    assert h.sim.requests_cut(instance) == 0
    assert h.sim.instance_state(instance) == "terminated"
    names = events_for(instance)
    assert names.index("TERMINATION_DRAIN_STARTED") < names.index("TERMINATION_DEREGISTERED") \
        < names.index("TERMINATION_HEARTBEAT") < names.index("TERMINATION_DRAINED") < names.index("LIFECYCLE_COMPLETED")
    assert "TERMINATION_CAPACITY" in names


def test_without_heartbeats_the_hook_would_have_let_it_go_with_requests_cut(harness: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The heartbeat is what keeps the instance: with it removed, the hook times out mid-drain and requests are cut.
    from steps.drain import check_termination_drain

    monkeypatch.setattr(check_termination_drain, "heartbeat_due", lambda *_: False)
    h = harness(hook_fleet(heartbeat=60, inflight=200.0), drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    deliver(h, h.sim.scale_in(instance))
    h.rt.clock.advance(120)
    assert h.sim.lifecycle_action(instance).heartbeats == []
    assert (h.sim.requests_cut(instance) or 0) > 0


def test_a_failing_drain_still_completes_the_lifecycle_action(harness: Any) -> None:
    # GIVEN DescribeTargetHealth failing for good (every drain check fails, retries exhausted)
    h = harness(hook_fleet(heartbeat=60))
    instance = h.built.instance_ids[QUIET]
    event = h.sim.scale_in(instance)
    h.rt.inject("elastic-load-balancing-v2", "DescribeTargetHealth", "ValidationError", times=None,
                function="nightshift-check-termination-drain")
    result = deliver(h, event)
    # THEN the execution fails visibly, but the lifecycle action was completed with CONTINUE, and it is audited
    assert result["execution"]["status"] == "FAILED"
    [complete] = calls(h, "CompleteLifecycleAction")
    assert complete.params["LifecycleActionResult"] == "CONTINUE"
    names = events_for(instance)
    assert "TERMINATION_DRAIN_FAILED" in names and "LIFECYCLE_COMPLETED" in names


def test_an_instance_in_no_declared_group_is_let_go_at_once(harness: Any) -> None:
    # GIVEN a group that declares only the HTTPS target group, and an instance registered only in the other one
    h = harness(hook_fleet())
    instance = h.built.instance_ids[QUIET]
    h.rt.client("elbv2").deregister_targets(TargetGroupArn=h.built.target_group_arns[0], Targets=[{"Id": instance,
                                                                                                   "Port": 443}])
    h.rt.declare_groups([{**h.group, "target_group_arns": [h.built.target_group_arns[0]]}])
    h.rt.clock.advance(400)
    mark = len(h.rt.api_calls())
    result = deliver(h, h.sim.scale_in(instance))
    assert result["group"] == "unmanaged" and result["execution"]["status"] == "SUCCEEDED"
    later = h.rt.api_calls()[mark:]
    assert not [c for c in later if c.operation == "DeregisterTargets"]
    assert [c.operation for c in later if c.operation == "CompleteLifecycleAction"] == ["CompleteLifecycleAction"]
    assert "TERMINATION_NO_GROUP" in events_for(instance)


def test_a_duplicated_event_starts_one_drain(harness: Any) -> None:
    h = harness(hook_fleet())
    instance = h.built.instance_ids[QUIET]
    event = h.sim.scale_in(instance)
    first = invoke("termination-trigger", event)
    second = invoke("termination-trigger", event)
    h.rt.wait(first["execution_arn"])
    third = invoke("termination-trigger", event)  # after the drain ended
    assert first["started"] and not second["started"] and not third["started"]
    assert first["execution_arn"] == second["execution_arn"] == third["execution_arn"]
    sfn = h.rt.client("stepfunctions")
    assert len(sfn.list_executions(stateMachineArn=h.rt.state_machines["drain"])["executions"]) == 1
    assert len(calls(h, "CompleteLifecycleAction")) == 1
    names = events_for(instance)
    assert names.count("TERMINATION_DRAIN_STARTED") == 1 and names.count("TERMINATION_DUPLICATE") == 2


def test_a_spot_warning_drains_within_the_two_minutes_and_reports_requests_cut(harness: Any) -> None:
    # GIVEN requests that need 300 s to finish: more than the two minutes a Spot warning gives
    h = harness(FleetSpec(default=InstanceSpec(inflight_seconds=300.0), leaking={}),
                drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    event = h.sim.spot_interrupt(instance)
    warned_at = h.rt.clock.now()
    result = deliver(h, event)
    assert result["execution"]["status"] == "SUCCEEDED"
    # deregistered at once, the drain over before the two minutes are
    deregs = [c for c in calls(h, "DeregisterTargets") if any(t["Id"] == instance for t in c.params["Targets"])]
    assert len(deregs) == 2
    drained = next(r for r in audit.for_instance(instance) if r.event == "TERMINATION_DRAINED")
    assert float(drained.details["drain_seconds"]) <= 120
    assert not calls(h, "CompleteLifecycleAction")
    h.rt.clock.advance_to(warned_at + 200)
    cut = h.sim.requests_cut(instance)
    assert cut is not None and cut > 0  # 300 s of requests cannot finish in 120 s: reported, not hidden


def test_a_scale_in_mid_remediation_stops_it_and_nothing_puts_the_instance_back(harness: Any) -> None:
    # GIVEN a remediation of the leaker that is draining it (the deregistration delay is long)
    h = harness(hook_fleet(heartbeat=60, inflight=None, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0,
                                                                                       inflight_seconds=None)}),
                auto_scaling={"enabled": False})
    remediation = h.rt.start({"group": "web"})
    deadline = time.monotonic() + 60
    while "DEREGISTERED" not in h.audit_events():
        assert time.monotonic() < deadline, "the remediation never deregistered the leaker"
        time.sleep(0.01)
    # WHEN the ASG scales the leaker in
    drain = deliver(h, h.sim.scale_in(h.leaker))
    outcome = h.rt.wait(remediation, timeout=120)
    # THEN the drain completed the lifecycle action; the remediation stopped cleanly and released its lock
    assert drain["execution"]["status"] == "SUCCEEDED"
    assert len(calls(h, "CompleteLifecycleAction")) == 1
    assert outcome["status"] == "SUCCEEDED"
    assert "REMEDIATION_STOPPED_TERMINATING" in h.audit_events() and "FAILED" not in h.audit_events()
    assert not h.lock_held()
    from steps.store import claim

    assert claim.holder(h.leaker) is None  # the instance claim is released too
    assert not calls(h, "RebootInstances")
    # nothing registered it again: not the remediation's restore, not the sweep's reconciler
    h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    assert not [c for c in calls(h, "RegisterTargets") if any(t["Id"] == h.leaker for t in c.params["Targets"])]


def test_the_reconciler_does_not_put_back_an_instance_that_is_terminating(harness: Any) -> None:
    from tests.harness import crash_mid_drain

    # GIVEN a remediation that died mid-drain (the reconciler's case), then a scale-in of that instance whose
    # drain is still under way (in-flight requests never end: it drains to the deadline)
    h = harness(hook_fleet(heartbeat=60, inflight=None, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0,
                                                                                       inflight_seconds=None)}),
                auto_scaling={"enabled": False})
    crash_mid_drain(h)
    started = invoke("termination-trigger", h.sim.scale_in(h.leaker))
    deadline = time.monotonic() + 60
    while "TERMINATION_DEREGISTERED" not in events_for(h.leaker):
        assert time.monotonic() < deadline, "the drain never deregistered the instance"
        time.sleep(0.01)
    mark = len(h.rt.api_calls())
    # WHEN the sweep reconciles while the instance waits in Terminating:Wait (still running)
    sweep = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    assert sweep["status"] == "SUCCEEDED"
    # THEN it is closed as terminating, never registered again
    assert not [c for c in h.rt.api_calls()[mark:] if c.operation == "RegisterTargets" and c.accepted
                and any(t["Id"] == h.leaker for t in c.params["Targets"])]
    reconciled = [r for r in h.audit_records() if r["event"] == "RECONCILED"]
    assert reconciled and "terminating" in reconciled[0]["details"]
    assert h.rt.wait(started["execution_arn"])["status"] == "SUCCEEDED"


def test_an_event_delivered_after_the_hook_timed_out_ends_without_blocking(harness: Any) -> None:
    # GIVEN a lifecycle event EventBridge delivers late: the hook already timed out and the instance is gone
    h = harness(hook_fleet(heartbeat=60))
    instance = h.built.instance_ids[QUIET]
    event = h.sim.scale_in(instance)
    h.rt.clock.advance(600)
    assert h.sim.instance_state(instance) == "terminated"
    # WHEN it arrives
    result = deliver(h, event)
    # THEN the drain ends at once and succeeds: the action was no longer active (audited so), nothing failed
    assert result["execution"]["status"] == "SUCCEEDED"
    completed = next(r for r in audit.for_instance(instance) if r.event == "LIFECYCLE_COMPLETED")
    assert completed.details["active"] is False
    assert not calls(h, "CompleteLifecycleAction")  # refused by AWS (no active action), so not accepted


def test_an_event_for_an_instance_that_is_not_terminating_takes_nothing_out_of_service(harness: Any) -> None:
    # GIVEN a lifecycle event naming an InService instance (forged by whoever may invoke the trigger, or a token of
    # another instance's action): the real group and hook names, another instance id
    from steps.store import terminating

    h = harness(hook_fleet())
    victim, other = h.built.instance_ids[QUIET], h.leaker
    event = h.sim.scale_in(other)
    assert event is not None
    forged = {**event, "id": "forged", "detail": {**event["detail"], "EC2InstanceId": victim,
                                                  "LifecycleActionToken": "11111111-2222-3333-4444-555555555555"}}
    assert h.sim.asg_lifecycle(victim) == "InService"
    mark = len(h.rt.api_calls())
    # WHEN it is delivered
    result = deliver(h, forged)
    # THEN the victim is not deregistered from anything, not marked terminating (a remediation of it could not
    # stop, nothing that would put it back refuses to), and the refusal is audited; termination is still not blocked
    later = h.rt.api_calls()[mark:]
    assert not [c for c in later if c.operation == "DeregisterTargets"
                and any(t["Id"] == victim for t in c.params["Targets"])]
    assert terminating.find(victim) is None
    assert h.in_service_everywhere(victim)
    assert "TERMINATION_NOT_TERMINATING" in events_for(victim)
    assert result["execution"]["status"] == "SUCCEEDED"
    assert h.sim.asg_lifecycle(victim) == "InService"


def test_a_scale_in_during_the_reboot_stops_the_remediation_and_drains_in_its_group(harness: Any) -> None:
    # GIVEN a remediation of the leaker past its drain: deregistered everywhere (no longer a target of any target
    # group, the drain is over), reboot requested, waiting for the boot
    h = harness(hook_fleet(heartbeat=60, inflight=None, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0,
                                                                                       inflight_seconds=None)}),
                auto_scaling={"enabled": False}, drain={"signal": "ssm", "poll_seconds": 10})
    remediation = h.rt.start({"group": "web"})
    deadline = time.monotonic() + 120
    while "REBOOT_REQUESTED" not in h.audit_events():
        assert time.monotonic() < deadline, "the remediation never asked for the reboot"
        time.sleep(0.01)
    # WHEN the ASG scales the leaker in
    mark = len(h.rt.api_calls())
    drain = deliver(h, h.sim.scale_in(h.leaker))
    outcome = h.rt.wait(remediation, timeout=120)
    # THEN the drain knows the instance's group (the remediation's claim says it), marks it terminating, and the
    # remediation stops cleanly without registering it again; the lifecycle action is completed
    assert drain["group"] == "web"
    assert "TERMINATION_NO_GROUP" not in events_for(h.leaker)
    assert len(calls(h, "CompleteLifecycleAction")) == 1
    assert not [c for c in h.rt.api_calls()[mark:] if c.operation == "RegisterTargets"
                and any(t["Id"] == h.leaker for t in c.params["Targets"])]
    assert outcome["status"] == "SUCCEEDED"
    assert "REMEDIATION_STOPPED_TERMINATING" in h.audit_events()
    assert not h.lock_held()


def test_the_heartbeat_counts_from_when_the_hook_started_waiting_not_from_when_the_event_arrived(harness: Any) -> None:
    # GIVEN a hook with the shortest heartbeat timeout AWS allows (30 s) and an event that reaches the trigger 25 s
    # after the instance entered Terminating:Wait (EventBridge delivery, a throttled invocation retried)
    h = harness(hook_fleet(heartbeat=30, inflight=200.0), drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    event = h.sim.scale_in(instance)
    waiting_since = h.rt.clock.now()
    h.rt.clock.advance(25)
    # WHEN it is delivered
    result = deliver(h, event)
    # THEN the first heartbeat reached AWS before the hook's 30 s ran out, and the action was still active when the
    # drain completed it
    action = h.sim.lifecycle_action(instance)
    assert action.heartbeats and action.heartbeats[0] - waiting_since < 30
    assert result["execution"]["status"] == "SUCCEEDED"
    assert len(calls(h, "CompleteLifecycleAction")) == 1
    assert action.result == "CONTINUE"


def test_an_instance_in_two_declared_groups_leaves_the_target_groups_of_both(harness: Any) -> None:
    # GIVEN two declared groups, each with one of the two target groups; the instance is registered in both
    h = harness(hook_fleet(heartbeat=60))
    instance = h.built.instance_ids[QUIET]
    first, second = h.built.target_group_arns
    h.rt.declare_groups([{**h.group, "target_group_arns": [first]},
                         {**h.group, "name": "api", "target_group_arns": [second]}])
    # WHEN the ASG scales it in
    result = deliver(h, h.sim.scale_in(instance))
    # THEN it was deregistered from both target groups before it went, not only from its first group's
    deregistered = {c.params["TargetGroupArn"] for c in calls(h, "DeregisterTargets")
                    if any(t["Id"] == instance for t in c.params["Targets"])}
    assert deregistered == {first, second}
    assert result["execution"]["status"] == "SUCCEEDED"


def test_another_hooks_lifecycle_action_is_left_to_its_owner(harness: Any) -> None:
    # GIVEN a group with a second termination hook that is not Nightshift's (another team uploads logs in it): Auto
    # Scaling sends one event per hook, and the rule sees both
    h = harness(hook_fleet(heartbeat=60))
    instance = h.built.instance_ids[QUIET]
    ours = h.sim.scale_in(instance)
    assert ours is not None
    theirs = {**ours, "id": "theirs", "detail": {**ours["detail"], "LifecycleHookName": "upload-logs",
                                                 "LifecycleActionToken": "99999999-8888-7777-6666-555555555555"}}
    mark = len(h.rt.api_calls())
    # WHEN their event is delivered
    started = invoke("termination-trigger", theirs)
    # THEN nothing is started and nothing is sent for their hook: completing it would cut their action short
    assert not started["started"]
    sfn = h.rt.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=h.rt.state_machines["drain"])["executions"] == []
    assert not [c for c in h.rt.api_calls()[mark:] if c.operation in ("CompleteLifecycleAction",
                                                                     "RecordLifecycleActionHeartbeat",
                                                                     "DeregisterTargets")]


def test_the_remediations_own_replacement_through_the_hook_is_drained_and_the_rung_finishes(harness: Any) -> None:
    # GIVEN a group with the termination hook, and a leaker whose app a reboot and a new host do not cure: the
    # ladder reaches the replace rung, whose SetInstanceHealth Unhealthy terminates it through the hook
    from tests.harness import LEAKER

    spec = InstanceSpec(leak_to_percent=85.0, app_fails=True, new_host_cures=False)
    # (a short deregistration delay: the hook waits, and its event is sent, while the replacement still launches)
    h = harness(FleetSpec(leaking={LEAKER: spec}, deregistration_delay=30,
                          auto_scaling=AutoScalingSpec(min_size=2, termination_hook=TerminationHookSpec(
                              heartbeat_timeout=120))),
                health={"deadline_seconds": 120})
    remediation = h.rt.start({"group": "web"})
    deadline = time.monotonic() + 120
    while not [e for e in h.sim.auto_scaling.events if e["detail"]["EC2InstanceId"] == h.leaker]:
        assert time.monotonic() < deadline, "the replace rung never terminated the leaker"
        time.sleep(0.01)
    # WHEN the hook's event for it is delivered (as EventBridge would)
    [event] = [e for e in h.sim.auto_scaling.events if e["detail"]["EC2InstanceId"] == h.leaker]
    from datetime import datetime

    sent_at = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
    if sent_at > h.rt.clock.now():  # sent once Terminating:Wait begins (the ASG's own deregistration drained)
        h.rt.clock.advance_to(sent_at)
    drain = deliver(h, event)
    result = h.rt.wait(remediation, timeout=300)
    # THEN the lifecycle action is completed, and the remediation's rung still ends with the replacement in service:
    # the termination it asked for is not a reason to stop it
    assert drain["execution"]["status"] == "SUCCEEDED"
    assert len(calls(h, "CompleteLifecycleAction")) == 1
    assert result["status"] == "SUCCEEDED"
    assert "REPLACED" in h.audit_events() and "REMEDIATION_STOPPED_TERMINATING" not in h.audit_events()


def test_a_spot_hibernation_gets_no_two_minutes_so_the_drain_plans_none(harness: Any) -> None:
    # AWS: for hibernation "you receive an interruption notice, but you do not receive a two-minute warning because
    # the hibernation process begins immediately"
    # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html)
    h = harness(FleetSpec(default=InstanceSpec(inflight_seconds=300.0), leaking={}),
                drain={"signal": "ssm", "poll_seconds": 10})
    instance = h.built.instance_ids[QUIET]
    event = h.sim.spot_interrupt(instance)
    event = {**event, "detail": {**event["detail"], "instance-action": "hibernate"}}
    result = deliver(h, event)
    assert result["execution"]["status"] == "SUCCEEDED"
    deregistered = next(r for r in audit.for_instance(instance) if r.event == "TERMINATION_DEREGISTERED")
    assert deregistered.details["budget_seconds"] == 0
