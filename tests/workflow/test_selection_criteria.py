"""Selection criteria end to end (the real remediate.asl.json in the local runtime against the simulator): each
criterion heals the instance it is for, chosen by that criterion, with the right first action; the hysteresis;
failing before leaking; capacity honest with an unhealthy instance; a load balancer failing open never touched.
Requests are counted at the simulated API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from steps.remediate import blockers
from steps.store import first_seen, lock
from tests.workflow.test_notifications import drain, listen

MakeHarness = Any
FAULTY = 2
LEAKER = 5

pytestmark = pytest.mark.workflow


def selected(h: Any) -> dict[str, Any]:
    record = next(r for r in h.audit_records() if r["event"] == "SELECTED")
    return dict(record)


def calls(h: Any, operation: str) -> int:
    return int(h.sim.api_calls().get(operation, 0))


def healthy_everywhere(h: Any, instance_id: str) -> bool:
    return all(h.sim.target_state(instance_id, tg) == "healthy" for tg in h.built.target_group_arns)


def fleet(fault: str, fault_at: float = -600.0, *, leaker: bool = False, size: int = 12) -> FleetSpec:
    leaking = {FAULTY: InstanceSpec(fault=fault, fault_at=fault_at)}  # type: ignore[arg-type]
    if leaker:
        leaking[LEAKER] = InstanceSpec(leak_to_percent=85.0)
    return FleetSpec(size=size, leaking=leaking)


def test_a_failed_system_status_check_goes_straight_to_stop_start_and_is_never_rebooted(harness: MakeHarness) -> None:
    h = harness(fleet("system_impaired"), select=[{"criterion": "status_check", "for_seconds": 300},
                                                  {"criterion": "metric"}])
    faulty = h.built.instance_ids[FAULTY]
    topic_q, event_q = listen(h)
    result = h.run()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    chosen = selected(h)
    assert chosen["instance_id"] == faulty
    assert chosen["details"]["criterion"] == "status_check" and chosen["details"]["first_rung"] == "stop_start"
    # AND the person is told what is done: a stop/start, not a reboot, and why
    texts = drain(h, topic_q)
    assert texts[0].startswith(f"{faulty} is leaving service in web to be stopped and started on a new host")
    assert texts[1].startswith(f"{faulty} in web was stopped and started on a new host and is healthy again")
    details = [json.loads(body)["detail"] for body in drain(h, event_q)]
    assert {(d["criterion"], d["first_rung"]) for d in details} == {("status_check", "stop_start")}
    assert chosen["details"]["check"] == "system" and chosen["details"]["seconds"] >= 600
    # THEN no reboot at all: one stop and one start of that instance, and it is healthy on its new host
    assert calls(h, "ec2.RebootInstances") == 0
    assert calls(h, "ec2.StopInstances") == 1 and calls(h, "ec2.StartInstances") == 1
    events = h.audit_events()
    assert events.index("STATUS_CHECK_FAILED") < events.index("SELECTED")
    assert "REBOOT_REQUESTED" not in events and events[-1] == "HEALTHY" and "STOP_STARTED" in events
    assert healthy_everywhere(h, faulty) and not h.lock_held()


def test_a_failed_instance_status_check_is_rebooted_first(harness: MakeHarness) -> None:
    h = harness(fleet("instance_impaired"), select=[{"criterion": "status_check", "for_seconds": 300}])
    faulty = h.built.instance_ids[FAULTY]
    assert h.run()["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert chosen["instance_id"] == faulty and chosen["details"]["criterion"] == "status_check"
    assert "first_rung" not in chosen["details"]
    assert len(h.sim.reboots(faulty)) == 1 and calls(h, "ec2.StopInstances") == 0
    assert healthy_everywhere(h, faulty)


SELECT_STEP = "nightshift-select-worst-instance"


def watch_looks(h: Any, execution_name: str) -> list[float]:
    """The virtual times at which the named execution's select step runs (appended as it runs)."""
    looks: list[float] = []

    def record(name: str, event: dict[str, Any]) -> None:
        if name == SELECT_STEP and event["execution_id"].endswith(f":{execution_name}"):
            looks.append(h.rt.clock.now())

    h.rt.router.before.append(record)
    return looks


def test_one_run_watches_an_unhealthy_target_with_alb_default_checks_and_heals_it_after_for_seconds(
        harness: MakeHarness) -> None:
    # ALB defaults: a health check every 30 s, unhealthy after 2 failed ones: a first sighting carries across less
    # than 60 s between two looks (criteria.recover_and_fail_seconds). One run (as an hourly sweep starts it)
    # sees the target failing and looks again itself until it has failed for T.
    spec = FleetSpec(size=12, health_check_interval=30, unhealthy_threshold=2,
                     leaking={FAULTY: InstanceSpec(fault="app_failing", fault_at=0.0)})
    h = harness(spec, select=[{"criterion": "unhealthy_target", "for_seconds": 120}, {"criterion": "metric"}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(70)  # 2 failed checks x 30 s: unhealthy (Target.FailedHealthChecks)
    assert h.sim.target_state(faulty, h.built.target_group_arns[0]) == "unhealthy"
    looks = watch_looks(h, "hourly")
    held: list[tuple[str | None, float, float]] = []
    second: list[str] = []

    def while_watching(name: str, event: dict[str, Any]) -> None:
        if name != SELECT_STEP or not event["execution_id"].endswith(":hourly") or len(looks) < 2:
            return
        holder = lock.holder("web")  # before each later look: still ours, past this moment
        held.append((holder.owner if holder else None, float(holder.expires_at) if holder else 0.0,
                     h.rt.clock.now()))
        if not second:  # another start (an alarm, a person) while the run watches: it must not get the group
            second.append(h.rt.start({"group": "web", "reason": "started mid-watch"}, name="mid-watch"))

    h.rt.router.before.append(while_watching)
    result = h.rt.run({"group": "web"}, name="hourly", timeout=300)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["outcome"]["status"] == "remediated"
    # THEN it watched: several looks, each less than 60 s after the one before (the Waits), then chose it
    gaps = [b - a for a, b in pairwise(looks)]
    assert len(looks) >= 4 and all(0 < g < 60 for g in gaps), gaps
    chosen = selected(h)
    assert chosen["instance_id"] == faulty and chosen["details"]["criterion"] == "unhealthy_target"
    assert chosen["details"]["seconds"] >= 120 and chosen["details"]["restarted"] is False
    assert chosen["details"]["first_seen"] == pytest.approx(looks[0], abs=1)
    assert looks[-1] - looks[0] >= 120 and looks[-1] - looks[0] < 120 + 60
    # one WATCHING record (not one per look), before the criterion's and SELECTED; no NOTHING_TO_DO of this run
    mine = [r for r in h.audit_records() if r["execution_id"].endswith(":hourly")]
    events = [r["event"] for r in mine]
    assert events.count("WATCHING") == 1 and "NOTHING_TO_DO" not in events
    assert events.index("WATCHING") < events.index("UNHEALTHY_TARGET") < events.index("SELECTED")
    watching = next(r for r in mine if r["event"] == "WATCHING")["details"]
    [instance] = watching["instances"]
    assert (instance["instance_id"], instance["max_gap_seconds"]) == (faulty, 60)
    assert watching["until"] == pytest.approx(looks[0] + 120 + 60, abs=1) and watching["watch_seconds"] < 60
    # the lock stayed ours throughout, its lease past every look; the start mid-watch touched nothing
    assert held and all(owner is not None and owner.endswith(":hourly") and expires > now
                        for owner, expires, now in held)
    other = h.rt.wait(second[0], timeout=300)
    assert json.loads(other["output"])["outcome"]["status"] == "skipped_locked"
    assert calls(h, "elbv2.DeregisterTargets") == len(h.built.target_group_arns)
    assert len(h.sim.reboots(faulty)) == 1 and healthy_everywhere(h, faulty) and not h.lock_held()


def test_a_target_that_recovers_while_watched_ends_nothing_to_do_and_nothing_is_touched(
        harness: MakeHarness) -> None:
    # Failing from 0 to 90 s: unhealthy at 60 s, healthy again 3 passed checks after 90 s; T is 300 s.
    spec = FleetSpec(size=12, health_check_interval=30, unhealthy_threshold=2,
                     leaking={FAULTY: InstanceSpec(health_check_failures=((0.0, 90.0),))})
    h = harness(spec, select=[{"criterion": "unhealthy_target", "for_seconds": 300}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(70)
    assert h.sim.target_state(faulty, h.built.target_group_arns[0]) == "unhealthy"
    looks = watch_looks(h, "watching")
    result = h.rt.run({"group": "web"}, name="watching", timeout=300)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["outcome"]["status"] == "nothing_to_do"
    assert healthy_everywhere(h, faulty)
    # it watched until it saw the target healthy (long before the deadline), then ended as before
    assert len(looks) >= 3 and looks[-1] - looks[0] < 300
    events = h.audit_events()
    assert events.count("WATCHING") == 1 and events[-1] == "NOTHING_TO_DO" and "SELECTED" not in events
    last = h.audit_records()[-1]["details"]
    assert last["watching"] == [] and last["watch_deadline_passed"] is False
    # nothing asked of AWS: no deregistration, no reboot, and the lock is released
    assert calls(h, "elbv2.DeregisterTargets") == 0 and not h.sim.reboot_requests(faulty)
    assert not h.lock_held()


WATCHED_SPEC = FleetSpec(size=12, health_check_interval=30, unhealthy_threshold=2,
                         leaking={FAULTY: InstanceSpec(fault="app_failing", fault_at=0.0)})


def test_a_watch_that_lost_the_group_stops_and_touches_nothing(harness: MakeHarness) -> None:
    # Another execution took the group over while this one waited (as it could once a lease ran out): the next
    # watching look cannot renew the lease and stops, as the poll loops do.
    h = harness(WATCHED_SPEC, select=[{"criterion": "unhealthy_target", "for_seconds": 120}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(70)
    thief = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:took-it-over"
    looks = watch_looks(h, "watching")

    def take_the_lock(name: str, event: dict[str, Any]) -> None:
        if name == SELECT_STEP and len(looks) == 2:
            now = h.rt.clock.now()
            lock.GroupLock("web", owner=thief, acquired_at=now, expires_at=now + 7200,
                           purge_at=datetime.fromtimestamp(int(now + 7200 + 86400), UTC)).save()

    h.rt.router.before.append(take_the_lock)
    result = h.rt.run({"group": "web"}, name="watching", timeout=300)
    assert result["status"] == "FAILED" and "LockLost" in (result.get("cause") or ""), result
    assert len(looks) == 2  # it stopped at the look that lost the group: no further Wait
    events = h.audit_events()
    assert events.index("WATCHING") < events.index("LOCK_LOST") < events.index("FAILED") and "SELECTED" not in events
    assert next(r for r in h.audit_records() if r["event"] == "LOCK_LOST")["details"]["holder"] == thief
    assert calls(h, "elbv2.DeregisterTargets") == 0 and not h.sim.reboot_requests(faulty)
    holder = lock.holder("web")
    assert holder is not None and holder.owner == thief  # the other execution's lock is left alone


def test_a_retried_first_watch_keeps_its_deadline_and_audits_watching_once(harness: MakeHarness,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The Lambda dies right after the first watching look did its work (audited, deadline kept): the Task's Retry
    # runs the look again with the same input. It neither audits WATCHING again nor moves the deadline.
    from nightshift.runtime.interceptor import SandboxDied
    from steps.remediate import select_worst_instance

    h = harness(WATCHED_SPEC, select=[{"criterion": "unhealthy_target", "for_seconds": 120}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(70)
    real, died = select_worst_instance._watch, []

    def dies_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = real(*args, **kwargs)
        if not died:
            died.append(answer)
            raise SandboxDied("Lambda.Unknown", "select died after its first watch")
        return answer

    monkeypatch.setattr(select_worst_instance, "_watch", dies_once)
    result = h.rt.run({"group": "web"}, name="retried", timeout=300)
    assert died and result["status"] == "SUCCEEDED", result
    assert selected(h)["instance_id"] == faulty
    watching = [r for r in h.audit_records() if r["event"] == "WATCHING"]
    assert len(watching) == 1 and watching[0]["details"]["until"] == died[0]["watch_until"]
    assert calls(h, "elbv2.DeregisterTargets") == len(h.built.target_group_arns) and not h.lock_held()


def test_a_watch_ends_nothing_to_do_when_its_history_budget_is_spent(harness: MakeHarness,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Each look writes history events; an execution takes only the looks the 25,000-event quota leaves it
    # (steps/domain/history.py watch_looks). Here 2: the first look and 2 more, then NOTHING_TO_DO, untouched.
    from steps.domain import history

    monkeypatch.setattr(history, "watch_looks", lambda group: 2)
    h = harness(WATCHED_SPEC, select=[{"criterion": "unhealthy_target", "for_seconds": 600}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(70)
    looks = watch_looks(h, "budget")
    result = h.rt.run({"group": "web"}, name="budget", timeout=300)
    assert json.loads(result["output"])["outcome"]["status"] == "nothing_to_do"
    assert len(looks) == 3
    last = h.audit_records()[-1]
    assert last["event"] == "NOTHING_TO_DO" and last["details"]["watch_looks_allowed"] == 2
    assert last["details"]["watch_deadline_passed"] is False and last["details"]["watching"][0]["instance_id"] == faulty
    assert calls(h, "elbv2.DeregisterTargets") == 0 and not h.sim.reboot_requests(faulty) and not h.lock_held()


def test_a_watching_execution_that_failed_is_replayed_and_the_replay_watches_afresh(harness: MakeHarness) -> None:
    # The select step fails for good at the third look (every Retry spent): the execution fails, nothing was taken
    # out. Its replay (a new execution of the same remediation) starts its own watch (its own WATCHING record and
    # deadline, the failed one's kept facts are not its own) and heals the target.
    from nightshift.replay import replay
    from steps.core.exceptions import NightshiftError

    h = harness(WATCHED_SPEC, select=[{"criterion": "unhealthy_target", "for_seconds": 120}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(70)
    looks = watch_looks(h, "first")

    def fails_at_the_third_look(name: str, event: dict[str, Any]) -> None:
        if name == SELECT_STEP and event["execution_id"].endswith(":first") and len(looks) >= 3:
            raise NightshiftError("injected: select fails for good")

    h.rt.router.before.append(fails_at_the_third_look)
    first = h.rt.run({"group": "web"}, name="first", timeout=300)
    assert first["status"] == "FAILED" and not h.lock_held()
    assert calls(h, "elbv2.DeregisterTargets") == 0
    again = replay(h.rt.client("stepfunctions"), first["executionArn"])
    final = h.rt.wait(again.execution_arn, timeout=300)
    assert final["status"] == "SUCCEEDED", final.get("cause")
    watching = [r for r in h.audit_records() if r["event"] == "WATCHING"]
    assert [r["execution_id"] for r in watching] == [first["executionArn"], again.execution_arn]
    # the replay looked soon enough after the failed run's last look that the first sighting carried: the same
    # first sighting, so the same deadline, and it is chosen 120 s after the failed run first saw it
    assert watching[1]["details"]["until"] == watching[0]["details"]["until"]
    chosen = selected(h)
    assert chosen["execution_id"] == again.execution_arn and chosen["instance_id"] == faulty
    assert chosen["details"]["first_seen"] == pytest.approx(looks[0], abs=1) and len(h.sim.reboots(faulty)) == 1
    assert healthy_everywhere(h, faulty) and not h.lock_held()


def test_a_hung_instance_is_chosen_as_silent_and_hard_rebooted(harness: MakeHarness) -> None:
    h = harness(fleet("hung", -900.0), select=[{"criterion": "silent", "for_seconds": 300}, {"criterion": "metric"}])
    faulty = h.built.instance_ids[FAULTY]
    assert h.run()["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert chosen["instance_id"] == faulty and chosen["details"]["criterion"] == "silent"
    assert chosen["details"]["peers_reporting"] == 11 and chosen["details"]["seconds"] >= 300
    assert len(h.sim.reboots(faulty)) == 1 and healthy_everywhere(h, faulty)
    assert h.sim.memory_percent(faulty) is not None  # reporting again


def test_silent_with_no_peer_reporting_is_no_metric_data_as_before(harness: MakeHarness) -> None:
    h = harness(FleetSpec(size=6, leaking={}, default=InstanceSpec(fault="hung", fault_at=-900.0)),
                select=[{"criterion": "silent", "for_seconds": 300}])
    assert h.run()["status"] == "SUCCEEDED"
    assert h.audit_events() == ["LOCK_ACQUIRED", "NO_METRIC_DATA"]
    assert calls(h, "elbv2.DeregisterTargets") == 0


def test_a_failing_instance_is_chosen_before_a_leaking_one(harness: MakeHarness) -> None:
    h = harness(fleet("instance_impaired", leaker=True),
                select=[{"criterion": "metric"}, {"criterion": "status_check", "for_seconds": 300}])
    assert h.run(dry_run=True)["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert chosen["instance_id"] == h.built.instance_ids[FAULTY] != h.leaker
    assert chosen["details"]["criterion"] == "status_check"


def test_the_leak_is_still_chosen_by_metric_when_nothing_fails(harness: MakeHarness) -> None:
    h = harness(select=[{"criterion": "status_check", "for_seconds": 300}, {"criterion": "metric"}])
    assert h.run(dry_run=True)["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert chosen["instance_id"] == h.leaker and chosen["details"]["criterion"] == "metric"


def test_removing_an_unhealthy_instance_does_not_count_against_the_floor(harness: MakeHarness) -> None:
    # 6 instances, one failing its checks: 5 healthy; a floor of 5 lets the unhealthy one out (5 stay healthy)
    h = harness(fleet("app_failing", 0.0, size=6), min_healthy=5, min_healthy_percent=0,
                select=[{"criterion": "unhealthy_target", "for_seconds": 0}])
    faulty = h.built.instance_ids[FAULTY]
    h.rt.clock.advance(30)
    assert h.run()["status"] == "SUCCEEDED"
    capacity = next(r for r in h.audit_records() if r["event"] == "CAPACITY_OK")
    assert {(c["healthy_now"], c["healthy_after"], c["required"]) for c in capacity["details"]["checks"]} == {
        (5, 5, 5)}
    assert len(h.sim.reboots(faulty)) == 1 and healthy_everywhere(h, faulty)


def _all_failing_open(harness: MakeHarness) -> Any:
    h = harness(FleetSpec(size=6, leaking={}, default=InstanceSpec(fault="app_failing", fault_at=0.0)),
                min_healthy=0, min_healthy_percent=0, allow_zero_healthy=True,
                select=[{"criterion": "unhealthy_target", "for_seconds": 0}])
    h.rt.clock.advance(30)  # every target unhealthy: the load balancer routes to all of them (fail open)
    return h


def test_a_group_whose_load_balancer_fails_open_is_never_touched(harness: MakeHarness) -> None:
    h = _all_failing_open(harness)
    assert h.run()["status"] == "SUCCEEDED"
    assert h.audit_events()[-2:] == ["SELECTED", "SKIPPED_FAIL_OPEN"]
    assert "failing open" in h.audit_records()[-1]["reason"]
    for operation in ("elbv2.DeregisterTargets", "ec2.RebootInstances", "ec2.StopInstances",
                      "autoscaling.EnterStandby"):
        assert calls(h, operation) == 0, operation
    assert not h.lock_held()


def test_without_the_fail_open_guard_the_same_group_would_be_taken_out(harness: MakeHarness,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard removed (every capacity check then sees only the zero floor): the test above would fail.
    monkeypatch.setattr(blockers, "refusing_fail_open", lambda decision, *_args, **_kwargs: decision)
    h = _all_failing_open(harness)
    h.run()
    assert calls(h, "elbv2.DeregisterTargets") > 0


def test_a_named_silent_instance_is_compared_with_its_peers(harness: MakeHarness) -> None:
    # A manual start (or a replay) names the instance: silence is still judged against the peers' datapoints.
    h = harness(fleet("hung", -900.0), select=[{"criterion": "silent", "for_seconds": 300}, {"criterion": "metric"}])
    faulty = h.built.instance_ids[FAULTY]
    assert h.run(instance_id=faulty, dry_run=True)["status"] == "SUCCEEDED"
    chosen = selected(h)
    assert chosen["instance_id"] == faulty and chosen["details"]["criterion"] == "silent"
    assert h.audit_events()[-1] == "DRY_RUN" and calls(h, "elbv2.DeregisterTargets") == 0


def test_the_first_rung_comes_first_even_when_the_ladder_lists_it_later(harness: MakeHarness) -> None:
    # An Auto Scaling fleet whose ladder says replace before stop/start: a failed system check still starts
    # with stop/start (the selection's first rung); the ASG replaces nothing.
    spec = FleetSpec(leaking={FAULTY: InstanceSpec(fault="system_impaired", fault_at=-600.0)},
                     auto_scaling=AutoScalingSpec(min_size=2))
    h = harness(spec, select=[{"criterion": "status_check", "for_seconds": 300}],
                escalation={"rungs": [{"action": "replace", "deadline_seconds": 1200},
                                      {"action": "stop_start", "deadline_seconds": 900}, {"action": "leave_out"}]})
    faulty = h.built.instance_ids[FAULTY]
    assert h.run()["status"] == "SUCCEEDED"
    escalating = next(r for r in h.audit_records() if r["event"] == "ESCALATING")
    assert escalating["details"]["rung"] == "stop_start"
    assert calls(h, "ec2.StopInstances") == 1 and calls(h, "autoscaling.SetInstanceHealth") == 0
    assert calls(h, "ec2.RebootInstances") == 0 and healthy_everywhere(h, faulty)


def test_an_impaired_host_with_an_instance_store_root_is_replaced_never_stopped(harness: MakeHarness) -> None:
    # AWS refuses StopInstances for an instance-store root: the first rung cannot apply, so the ladder skips it
    # (audited) and its Auto Scaling group replaces the instance; no StopInstances is ever sent.
    spec = FleetSpec(leaking={FAULTY: InstanceSpec(fault="system_impaired", fault_at=-600.0,
                                                   root_device="instance-store")},
                     auto_scaling=AutoScalingSpec(min_size=2))
    h = harness(spec, select=[{"criterion": "status_check", "for_seconds": 300}])
    assert h.run()["status"] == "SUCCEEDED"
    skipped = next(r for r in h.audit_records() if r["event"] == "ESCALATION_RUNG_SKIPPED")
    assert skipped["instance_id"] == h.built.instance_ids[FAULTY]
    assert skipped["details"]["rung"] == "stop_start" and "instance store" in skipped["reason"]
    assert calls(h, "ec2.StopInstances") == 0 and calls(h, "ec2.RebootInstances") == 0
    assert calls(h, "autoscaling.SetInstanceHealth") == 1
    assert "REPLACED" in h.audit_events() and not h.lock_held()


def test_an_impaired_host_that_is_a_spot_instance_is_replaced_never_stopped(harness: MakeHarness) -> None:
    # A Spot Instance of a one-time request cannot be stopped (UnsupportedOperation): the first rung is skipped
    # (audited) and its Auto Scaling group replaces it; no StopInstances is ever sent.
    spec = FleetSpec(leaking={FAULTY: InstanceSpec(fault="system_impaired", fault_at=-600.0, spot="one-time")},
                     auto_scaling=AutoScalingSpec(min_size=2))
    h = harness(spec, select=[{"criterion": "status_check", "for_seconds": 300}])
    assert h.run()["status"] == "SUCCEEDED"
    skipped = next(r for r in h.audit_records() if r["event"] == "ESCALATION_RUNG_SKIPPED")
    assert skipped["details"]["rung"] == "stop_start" and "Spot Instance" in skipped["reason"]
    assert calls(h, "ec2.StopInstances") == 0 and calls(h, "ec2.RebootInstances") == 0
    assert calls(h, "autoscaling.SetInstanceHealth") == 1 and "REPLACED" in h.audit_events()


def test_the_simulator_refuses_to_stop_a_one_time_spot_instance_as_ec2_does(harness: MakeHarness) -> None:
    from botocore.exceptions import ClientError

    h = harness(FleetSpec(leaking={FAULTY: InstanceSpec(spot="one-time"), 1: InstanceSpec(spot="persistent")}))
    one_time, persistent = h.built.instance_ids[FAULTY], h.built.instance_ids[1]
    ec2 = h.rt.client("ec2")
    described = {i["InstanceId"]: i for r in ec2.describe_instances(InstanceIds=[one_time, persistent])["Reservations"]
                 for i in r["Instances"]}
    assert described[one_time]["InstanceLifecycle"] == described[persistent]["InstanceLifecycle"] == "spot"
    with pytest.raises(ClientError, match="UnsupportedOperation"):
        ec2.stop_instances(InstanceIds=[one_time])
    ec2.stop_instances(InstanceIds=[persistent])  # a persistent request's instance may be stopped


def test_the_simulator_refuses_to_stop_an_instance_store_root_as_ec2_does(harness: MakeHarness) -> None:
    from botocore.exceptions import ClientError

    h = harness(FleetSpec(leaking={FAULTY: InstanceSpec(root_device="instance-store")}))
    faulty = h.built.instance_ids[FAULTY]
    ec2 = h.rt.client("ec2")
    [reservation] = ec2.describe_instances(InstanceIds=[faulty])["Reservations"]
    assert reservation["Instances"][0]["RootDeviceType"] == "instance-store"
    with pytest.raises(ClientError, match="UnsupportedOperation"):
        ec2.stop_instances(InstanceIds=[faulty])


def test_an_instance_just_started_after_a_stop_is_not_silent_yet(harness: MakeHarness) -> None:
    # Someone stopped an instance for 10 minutes and started it again: it is running, healthy, and its agent
    # publishes again, but its new datapoints are not readable yet (period + ingestion delay). It has been
    # running for far less than T: "no datapoint for at least T while running" cannot be true of it yet.
    h = harness(select=[{"criterion": "silent", "for_seconds": 300}])
    restarted = h.built.instance_ids[FAULTY]
    ec2 = h.rt.client("ec2")
    ec2.stop_instances(InstanceIds=[restarted])
    h.rt.clock.advance(600)
    ec2.start_instances(InstanceIds=[restarted])
    for _ in range(60):  # until it serves again in every target group
        h.rt.clock.advance(5)
        if healthy_everywhere(h, restarted):
            break
    assert healthy_everywhere(h, restarted)
    started_at = [t for verb, t in h.sim.instance(restarted).power.stop_start if verb == "start"][-1]
    mark = len(h.rt.api_calls())
    assert h.run()["status"] == "SUCCEEDED"
    assert "SELECTED" not in h.audit_events()
    assert not h.sim.reboots(restarted) and calls(h, "elbv2.DeregisterTargets") == 0
    # AND it is watched: quiet since its start, counted from its LaunchTime, far from T
    nothing = h.audit_records()[-1]
    assert nothing["event"] == "NOTHING_TO_DO"
    [watched] = nothing["details"]["watching"]
    assert (watched["instance_id"], watched["criterion"]) == (restarted, "silent")
    assert 0 <= watched["seconds"] <= h.rt.clock.now() - started_at < 300
    # AND the select step asked EC2 for the LaunchTime of that quiet instance only, in one DescribeInstances
    described = [c.params for c in h.rt.api_calls()[mark:] if c.operation == "DescribeInstances"
                 and c.function and "select" in c.function]
    assert described == [{"InstanceIds": [restarted]}]


def remembered(h: Any, instance_id: str, first: float, last: float) -> None:
    """The select step's memory as a selection that ended while the target failed left it (a watch whose
    deadline passed, a run that lost its group): first and last seen failing."""
    first_seen.save("web", {instance_id: (first, last)}, last)


def test_a_target_failing_again_after_recovering_unobserved_starts_its_wait_again(harness: MakeHarness) -> None:
    # Seen failing an hour ago by a selection that ended while it failed, then it recovered and served with no
    # selection looking (the group paused, the sweep off), then it fails again. Its first sighting is an hour old,
    # but this failure is seconds old: T counts from when this failure was first seen, never from an earlier one's.
    spec = FleetSpec(size=12, leaking={FAULTY: InstanceSpec(health_check_failures=((0.0, 60.0), (3600.0, 9000.0)))})
    h = harness(spec, select=[{"criterion": "unhealthy_target", "for_seconds": 300}])
    faulty = h.built.instance_ids[FAULTY]
    start = h.rt.clock.now()
    h.rt.clock.advance(40)
    assert h.sim.target_state(faulty, h.built.target_group_arns[0]) == "unhealthy"
    remembered(h, faulty, start + 40, start + 40)
    h.rt.clock.advance(1800)
    assert h.sim.target_state(faulty, h.built.target_group_arns[0]) == "healthy"  # recovered, nobody looked
    h.rt.clock.advance(start + 3600 + 40 - h.rt.clock.now())
    assert h.sim.target_state(faulty, h.built.target_group_arns[0]) == "unhealthy"  # failing again, just now
    looks = watch_looks(h, "again")
    h.rt.run({"group": "web"}, name="again", timeout=300)
    # the audit says why it watched: last seen failing an hour ago, more than the 20 s (2 failed checks x 10 s)
    # that carry; it was chosen only once this failure had lasted T, counted from this run's first look
    watching = next(r for r in h.audit_records() if r["event"] == "WATCHING")["details"]
    [watched] = watching["watching"]
    assert watched["restarted"] is True and watched["max_gap_seconds"] == 20
    assert watched["last_seen"] == pytest.approx(start + 40, abs=5)
    assert watched["first_seen"] == pytest.approx(looks[0], abs=1)
    chosen = selected(h)["details"]
    assert chosen["first_seen"] == pytest.approx(looks[0], abs=1) and chosen["restarted"] is False
    assert looks[-1] - looks[0] >= 300 and chosen["seconds"] >= 300


def test_a_target_that_recovered_just_after_it_was_seen_and_failed_again_starts_its_wait_again(
        harness: MakeHarness) -> None:
    # HealthyThresholdCount 3, UnhealthyThresholdCount 2, every 10 s. Seen unhealthy (by a selection that then
    # ended) while it already passes its checks again (2 of the 3 passed), healthy a few seconds later, failing
    # again at once: unhealthy again 20 s after it turned healthy. 29 s between the two looks is less than
    # (3 + 2) x 10 s, but more than the 2 x 10 s a recover-and-fail cycle needs when the passed checks came
    # before the first look: this failure is 2 s old.
    spec = FleetSpec(size=12, leaking={FAULTY: InstanceSpec(health_check_failures=((0.0, 60.0), (92.0, 9000.0)))})
    h = harness(spec, select=[{"criterion": "unhealthy_target", "for_seconds": 25}])
    faulty = h.built.instance_ids[FAULTY]
    tg = h.built.target_group_arns[0]
    start = h.rt.clock.now()
    h.rt.clock.advance(85)
    assert h.sim.target_state(faulty, tg) == "unhealthy"  # its checks pass again since 60 s; healthy at 90 s
    remembered(h, faulty, start + 25, start + 85)
    h.rt.clock.advance(start + 100 - h.rt.clock.now())
    assert h.sim.target_state(faulty, tg) == "healthy"  # recovered, nobody looked
    h.rt.clock.advance(start + 114 - h.rt.clock.now())
    assert h.sim.target_state(faulty, tg) == "unhealthy"  # unhealthy again since 112 s
    looks = watch_looks(h, "again")
    h.rt.run({"group": "web"}, name="again", timeout=300)
    [watched] = next(r for r in h.audit_records() if r["event"] == "WATCHING")["details"]["watching"]
    assert watched["restarted"] is True and watched["seconds"] < 25
    # chosen 25 s after this run first saw it (not on the sighting at 25 s, which would have been due at once)
    chosen = selected(h)["details"]
    assert chosen["first_seen"] == pytest.approx(start + 114, abs=2) and looks[-1] - looks[0] >= 25
