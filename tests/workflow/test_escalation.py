"""The escalation ladder end to end: reboot -> stop/start -> ASG replace -> leave out (or put back and page),
each rung with its own deadline, the capacity guard before each, and "after Y reboots a day, escalate"."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec
from steps.domain import lease
from steps.store import audit, lock
from tests.harness import LEAKER, invoke

pytestmark = pytest.mark.workflow

SIZE = 12


def broken_app(new_host_cures: bool, asg: bool = False, **instance: Any) -> FleetSpec:
    """The leaker's app never passes health checks after its reboot; a new host may or may not cure it."""
    spec = InstanceSpec(leak_to_percent=85.0, app_fails=True, new_host_cures=new_host_cures, **instance)
    return FleetSpec(leaking={LEAKER: spec}, auto_scaling=AutoScalingSpec(min_size=2) if asg else None)


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(result["output"])["outcome"])


def assert_capacity_kept(h: Any) -> None:
    floor = max(int(h.group["min_healthy"]), math.ceil(SIZE * float(h.group["min_healthy_percent"]) / 100))
    launched = set(h.sim.replacements()) if h.built.auto_scaling_group else set()
    for point in h.sim.capacity_timeline():
        assert all(healthy >= floor for healthy in point.healthy.values()), point
        assert len(point.out_of_service - launched) <= 1, point  # a replacement still launching is not "taken out"
    assert not h.lock_held()


def test_a_reboot_that_does_not_heal_escalates_to_stop_start_which_does(harness: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A 300 s lease is refused at validation (steps/domain/lease.py); let it through to see the renewals.
    monkeypatch.setattr(lease, "required_lease", lambda group: lease.LeaseNeed(0, "not checked here", ""))
    h = harness(broken_app(new_host_cures=True), health={"deadline_seconds": 120}, lock_lease_seconds=300)
    leases: list[float] = []

    def lease_after_choosing(name: str, *_: Any) -> None:
        if name == "nightshift-choose-escalation":
            holder = lock.holder("web")
            leases.append(float(holder.expires_at) - h.rt.clock.now() if holder else 0.0)

    h.rt.router.after.append(lease_after_choosing)
    result = h.run()
    # the lease (300 s at the start) was renewed to cover the rung, a boot and the health checks
    assert leases and leases[0] >= 900 + 120
    assert result["status"] == "SUCCEEDED"
    assert outcome(result)["status"] == "remediated"
    events = h.audit_events()
    assert events.index("HEALTH_TIMED_OUT") < events.index("ESCALATING") < events.index("STOP_STARTED") \
        < events.index("HEALTHY")
    assert events.count("REGISTERED") == 2 and events.count("REBOOT_REQUESTED") == 1
    assert [a for a, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
    assert h.in_service_everywhere(h.leaker) and h.sim.target_state(h.leaker, h.built.target_group_arns[0]) == "healthy"
    assert_capacity_kept(h)


def test_when_a_new_host_does_not_help_the_asg_replaces_it(harness: Any) -> None:
    h = harness(broken_app(new_host_cures=False, asg=True), health={"deadline_seconds": 120})
    result = h.run()
    assert result["status"] == "SUCCEEDED"
    ended = outcome(result)
    assert ended["status"] == "replaced" and ended["replacement"] in h.sim.replacements()
    events = h.audit_events()
    assert events.count("ESCALATING") == 2 and "MARKED_UNHEALTHY" in events and "REPLACED" in events
    rungs = [r["details"]["rung"] for r in h.audit_records() if r["event"] == "ESCALATING"]
    assert rungs == ["stop_start", "replace"]
    assert h.sim.asg_lifecycle(h.leaker) in ("Terminating", None)
    assert all(h.sim.target_state(ended["replacement"], tg) == "healthy" for tg in h.built.target_group_arns)
    assert_capacity_kept(h)


def test_outside_an_asg_the_ladder_skips_replace_and_leaves_it_out_for_a_person(harness: Any) -> None:
    h = harness(broken_app(new_host_cures=False), health={"deadline_seconds": 120})
    result = h.run()
    assert result["status"] == "SUCCEEDED"
    ended = outcome(result)
    assert ended["status"] == "left_out" and ended["tried"] == ["stop_start", "replace", "leave_out"]
    skipped = next(r for r in h.audit_records() if r["event"] == "ESCALATION_RUNG_SKIPPED")
    assert skipped["details"]["rung"] == "replace" and "not in an Auto Scaling group" in skipped["reason"]
    assert "LEFT_OUT_OF_SERVICE" in h.audit_events()
    assert all(h.sim.target_state(h.leaker, tg) in (None, "draining") for tg in h.built.target_group_arns)
    emitted = [m["Name"] for blob in h.rt.metrics for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert emitted.count("Escalations") == 2 and emitted.count("InstancesLeftOutOfService") == 1
    assert_capacity_kept(h)
    # AND the sweep's reconciler respects the decision: it does not put it back
    from steps.sweep import reconcile

    out = invoke(reconcile.handler, {"execution_id": "arn:aws:states:us-east-1:123456789012:execution:sweep:s"})
    assert out["groups"]["web"]["restored"] == []


def test_an_exhausted_ladder_puts_the_instance_back_and_fails_to_page(harness: Any) -> None:
    h = harness(broken_app(new_host_cures=False), health={"deadline_seconds": 120},
                escalation={"rungs": [{"action": "stop_start", "deadline_seconds": 600}]})
    result = h.run()
    assert result["status"] == "FAILED"  # the failed-executions alarm pages
    events = h.audit_events()
    assert "ESCALATION_EXHAUSTED" in events and events[-1] == "FAILED"
    assert h.audit_records()[-1]["details"]["error"] == "EscalationExhausted"
    assert all(h.sim.target_state(h.leaker, tg) not in (None, "draining") for tg in h.built.target_group_arns)
    assert_capacity_kept(h)


def test_a_stop_start_past_its_deadline_moves_to_the_next_rung(harness: Any) -> None:
    # GIVEN a stop that takes longer than the rung's deadline, and no further rung but leave_out
    h = harness(broken_app(new_host_cures=True, stop_seconds=900), health={"deadline_seconds": 120},
                escalation={"rungs": [{"action": "stop_start", "deadline_seconds": 300}, {"action": "leave_out"}]})
    result = h.run()
    assert outcome(result)["status"] == "left_out"
    timed_out = next(r for r in h.audit_records() if r["event"] == "RUNG_TIMED_OUT")
    assert timed_out["details"]["rung"] == "stop_start" and timed_out["details"]["elapsed_seconds"] >= 300
    assert_capacity_kept(h)


def test_after_max_reboots_a_day_it_escalates_instead_of_rebooting(harness: Any) -> None:
    # GIVEN the leaker was rebooted 3 times in the last 24 h (outside the instance cooldown)
    h = harness(blockers={"instance_cooldown_seconds": 3600}, escalation={"max_reboots_per_day": 3})
    now = h.rt.clock.now()
    for hours_ago in (20, 14, 8):
        audit.record(audit.AuditEntry(group="web", event="REBOOT_REQUESTED", at=now - hours_ago * 3600,
                                      instance_id=h.leaker, reason="earlier reboot", trigger="schedule"))
    # WHEN it leaks again
    result = h.run()
    # THEN it is drained and stopped/started; no fourth reboot
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "remediated"
    events = h.audit_events()
    assert "REBOOT_LIMIT_REACHED" in events and "STOP_STARTED" in events and "HEALTHY" in events
    assert not h.sim.reboot_requests(h.leaker)
    assert h.sim.memory_percent(h.leaker) is not None and h.sim.memory_percent(h.leaker) < 65  # leak cured
    escalating = next(r for r in h.audit_records() if r["event"] == "ESCALATING")
    assert "rebooted too often" in escalating["details"]["cause"]
    assert_capacity_kept(h)


def test_a_dry_run_says_it_would_escalate(harness: Any) -> None:
    h = harness(blockers={"instance_cooldown_seconds": 3600}, escalation={"max_reboots_per_day": 1})
    audit.record(audit.AuditEntry(group="web", event="REBOOT_REQUESTED", at=h.rt.clock.now() - 7200,
                                  instance_id=h.leaker, reason="earlier reboot", trigger="schedule"))
    h.run(dry_run=True)
    dry = next(r for r in h.audit_records() if r["event"] == "DRY_RUN")
    assert "escalate" in dry["reason"] and dry["details"]["plan"] == "escalate"
    assert not h.sim.stop_start_requests(h.leaker)


def test_leave_out_without_capacity_to_spare_puts_it_back_and_pages(harness: Any) -> None:
    # GIVEN a ladder of only leave_out, and two other instances leaving service (someone else deregisters
    # them) just before that rung: the group can no longer spare the broken instance
    h = harness(broken_app(new_host_cures=False), health={"deadline_seconds": 120}, min_healthy=10,
                escalation={"rungs": [{"action": "leave_out"}]})
    others = [i for i in h.built.instance_ids if i != h.leaker][:2]

    def others_leave(name: str, _event: Any) -> None:
        if name == "nightshift-leave-out-instance" and not taken:
            taken.append(name)
            for tg in h.built.target_group_arns:
                h.rt.client("elbv2").deregister_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in others])

    taken: list[str] = []
    h.rt.router.before.append(others_leave)
    result = h.run()
    # THEN the broken instance is put back (serving something beats a hole), the execution fails (pages)
    assert result["status"] == "FAILED"
    events = h.audit_events()
    assert "LEFT_OUT_OF_SERVICE" not in events and "SKIPPED_CAPACITY" in events
    assert h.audit_records()[-1]["details"]["error"] == "CapacityLost"
    assert all(h.sim.target_state(h.leaker, tg) not in (None, "draining") for tg in h.built.target_group_arns)
    assert not h.lock_held()
