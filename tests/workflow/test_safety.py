"""Guards end to end: one remediation per group, capacity, storm breaker, blockers, dry run."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nightshift.cli import main
from nightshift.sim import FleetSpec, InstanceSpec
from steps.store import pause

pytestmark = pytest.mark.workflow


def test_twenty_concurrent_starts_reboot_exactly_once(harness: Any) -> None:
    h = harness()
    arns: list[str] = []
    barrier = threading.Barrier(20)

    def start(n: int) -> None:
        barrier.wait()
        arns.append(h.rt.start({"group": "web", "reason": f"race {n}"}, name=f"race-{n}"))

    threads = [threading.Thread(target=start, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [h.rt.wait(arn, timeout=300) for arn in arns]
    assert all(r["status"] == "SUCCEEDED" for r in results)
    outcomes = [json.loads(r["output"])["outcome"]["status"] for r in results]
    assert outcomes.count("remediated") == 1 and outcomes.count("skipped_locked") == 19
    assert len(h.sim.reboots(h.leaker)) == 1
    events = h.audit_events()
    assert events.count("SKIPPED_LOCKED") == 19 and events.count("REBOOT_REQUESTED") == 1
    assert not h.lock_held()


def test_six_healthy_with_min_six_is_never_touched(harness: Any) -> None:
    h = harness(FleetSpec(size=6, leaking={2: InstanceSpec(leak_to_percent=85.0)}), min_healthy=6)
    result = h.run()
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["outcome"] == {"status": "skipped", "code": "SKIPPED_CAPACITY"}
    assert "SKIPPED_CAPACITY" in h.audit_events()
    assert all(not h.sim.reboot_requests(i) for i in h.built.instance_ids)
    assert all(h.sim.target_state(i, tg) == "healthy" for i in h.built.instance_ids for tg in h.built.target_group_arns)
    record = next(r for r in h.audit_records() if r["event"] == "SKIPPED_CAPACITY")
    assert {c["healthy_after"] for c in record["details"]["checks"]} == {5}


def test_reboots_that_never_cure_trip_the_storm_breaker_until_resumed(harness: Any) -> None:
    # GIVEN a leak that comes back a minute after every reboot, and no per-instance cooldown
    spec = FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=60)})
    h = harness(spec, blockers={"instance_cooldown_seconds": 0, "storm": {"max_remediations": 3}})
    outcomes = []
    for _ in range(5):
        h.rt.clock.advance(600)
        outcomes.append(json.loads(h.run()["output"])["outcome"])
    assert [o["status"] for o in outcomes[:3]] == ["remediated"] * 3
    assert outcomes[3] == {"status": "skipped", "code": "STORM_BREAKER"}
    assert outcomes[4] == {"status": "skipped", "code": "SKIPPED_PAUSED"}
    assert len(h.sim.reboots(h.leaker)) == 3  # it stopped instead of rebooting forever
    assert "STORM_BREAKER" in h.audit_events()
    assert pause.paused("web") is not None
    # WHEN an operator resumes the group THEN remediation can happen again (window permitting)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["resume", "web"]) == 0
    assert pause.paused("web") is None and "RESUMED" in h.audit_events()


def test_the_same_instance_is_not_rebooted_again_within_its_cooldown(harness: Any) -> None:
    spec = FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, leak_returns_after_seconds=60)})
    h = harness(spec)
    assert json.loads(h.run()["output"])["outcome"]["status"] == "remediated"
    h.rt.clock.advance(600)
    assert json.loads(h.run()["output"])["outcome"] == {"status": "skipped", "code": "SKIPPED_COOLDOWN"}
    assert len(h.sim.reboots(h.leaker)) == 1


@pytest.mark.parametrize("blocker", ["paused", "excluded", "alarm", "window"])
def test_each_blocker_stops_the_remediation_with_its_reason_code(harness: Any, blocker: str) -> None:
    overrides: dict[str, Any] = {}
    if blocker == "alarm":
        overrides["blockers"] = {"blocking_alarms": ["deploy-in-progress"]}
    h = harness()
    if blocker == "window":  # a window on another weekday than the (virtual) today
        today = datetime.fromtimestamp(h.rt.clock.now(), UTC).weekday()
        overrides["blockers"] = {"maintenance_windows": [f"{['Mon', 'Tue'][today == 0]} 03:00-04:00"]}
    if overrides:
        h.group.update(overrides)
        h.rt.declare_groups([h.group])
    if blocker == "paused":
        with contextlib.redirect_stdout(io.StringIO()):
            main(["pause", "web", "--reason", "incident 42"])
    if blocker == "excluded":
        h.rt.client("ec2").create_tags(Resources=[h.leaker], Tags=[{"Key": "nightshift:exclude", "Value": "true"}])
    if blocker == "alarm":
        cw = h.rt.client("cloudwatch")
        cw.put_metric_alarm(AlarmName="deploy-in-progress", MetricName="Deploys", Namespace="Ops", Statistic="Sum",
                            Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
        cw.set_alarm_state(AlarmName="deploy-in-progress", StateValue="ALARM", StateReason="deploying")
    result = h.run()
    code = {"paused": "SKIPPED_PAUSED", "excluded": "SKIPPED_EXCLUDED", "alarm": "SKIPPED_ALARM",
            "window": "SKIPPED_WINDOW"}[blocker]
    assert json.loads(result["output"])["outcome"] == {"status": "skipped", "code": code}
    assert code in h.audit_events()
    assert not h.sim.reboot_requests(h.leaker)


def test_capacity_lost_while_draining_puts_the_instance_back_instead_of_rebooting(harness: Any) -> None:
    h = harness(min_healthy=11, drain={"signal": "target_state"})
    # WHEN another target fails its health checks during the drain (simulated app failure via deregistration)
    other = h.built.instance_ids[0]
    elbv2 = h.rt.client("elbv2")

    def knock_out(name: str, *_: Any) -> None:
        if name == "nightshift-check-drain" and h.sim.target_state(other, h.built.target_group_arns[0]) == "healthy":
            for tg in h.built.target_group_arns:
                elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": other}])

    h.rt.router.before.append(knock_out)
    result = h.run()
    assert result["status"] == "FAILED" and "CapacityLost" in result["cause"]
    assert not h.sim.reboot_requests(h.leaker)
    assert all(h.sim.target_state(h.leaker, tg) in {"initial", "healthy"} for tg in h.built.target_group_arns)
    assert not h.lock_held()


@pytest.mark.parametrize("fleet", [[], ["--asg"]], ids=["plain", "auto-scaling-group"])
def test_demo_dry_run_changes_nothing_in_aws(tmp_path: Path, fleet: list[str]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--dry-run", "--json", "--logs", str(tmp_path / "l.jsonl"), *fleet])
    result = json.loads(out.getvalue())
    assert code == 0 and result["status"] == "SUCCEEDED"
    assert result["aws_state_unchanged"] is True and result["aws_state_before"] == result["aws_state_after"]
    assert result["plan"]["details"]["allowed"] is True
    assert result["reboots"] == {}
