"""The real remediate.asl.json, executed end to end by moto's engine against the fleet simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec

MakeHarness = Any  # the `harness` fixture (tests/harness.py): builds a runtime + simulated fleet
LEAKER = 5

pytestmark = pytest.mark.workflow

TRAIL = ["LOCK_ACQUIRED", "SELECTED", "CAPACITY_OK", "DEREGISTERED", "DRAINED", "REBOOT_REQUESTED", "REBOOTED",
         "REGISTERED", "HEALTHY"]


def test_happy_path_heals_the_leaking_instance_once_and_releases_the_lock(harness: MakeHarness) -> None:
    h = harness()
    result = h.run(reason="test")
    assert result["status"] == "SUCCEEDED", result.get("cause")
    # THEN the leaking instance, and only it, really rebooted once
    assert h.sim.reboots(h.leaker) and len(h.sim.reboots(h.leaker)) == 1
    assert all(not h.sim.reboots(i) for i in h.built.instance_ids if i != h.leaker)
    # AND it is healthy again in both target groups, the lock is free, the trail is complete and ordered
    assert all(h.sim.target_state(h.leaker, tg) == "healthy" for tg in h.built.target_group_arns)
    assert not h.lock_held()
    assert h.audit_events() == TRAIL
    selected = next(r for r in h.audit_records() if r["event"] == "SELECTED")
    assert selected["instance_id"] == h.leaker
    assert selected["details"]["value"] > selected["details"]["threshold"] == 65.0
    # AND every log line of the run carries the execution id as correlation id
    lines = [json.loads(line) for line in h.logs.getvalue().splitlines() if line.strip()]
    assert lines and all(line.get("correlation_id") == result["executionArn"] for line in lines)


def test_nothing_above_threshold_succeeds_without_touching_anything(harness: MakeHarness) -> None:
    h = harness(FleetSpec(leaking={}))
    result = h.run()
    assert result["status"] == "SUCCEEDED"
    assert h.audit_events() == ["LOCK_ACQUIRED", "NOTHING_TO_DO"]
    assert all(not h.sim.reboots(i) and not h.sim.reboot_requests(i) for i in h.built.instance_ids)
    assert all(h.in_service_everywhere(i) for i in h.built.instance_ids)
    assert not h.lock_held()


def test_reboot_failure_puts_the_instance_back_releases_the_lock_and_says_why(harness: MakeHarness) -> None:
    h = harness()
    h.rt.inject("ec2", "RebootInstances", "UnauthorizedOperation", "not allowed to reboot")
    result = h.run()
    assert result["status"] == "FAILED"
    assert result["error"] == "RemediationFailed"
    # THEN the instance is registered again in every target group and nothing rebooted
    assert h.in_service_everywhere(h.leaker)
    assert not h.sim.reboots(h.leaker)
    assert not h.lock_held()
    events = h.audit_events()
    assert events[-2:] == ["RESTORED", "FAILED"]
    failed = h.audit_records()[-1]
    assert failed["details"]["error"] == "AwsCallFailed"
    assert "UnauthorizedOperation" in failed["reason"]




def drained(records: list[dict[str, object]]) -> dict[str, object]:
    record = next(r for r in records if r["event"] == "DRAINED")
    details = record["details"]
    assert isinstance(details, dict)
    return details


def test_target_state_signal_waits_the_whole_delay(harness: MakeHarness) -> None:
    h = harness(drain={"signal": "target_state"})
    assert h.run()["status"] == "SUCCEEDED"
    details = drained(h.audit_records())
    assert details["ended_by"] == "target_state"
    assert 300 <= float(details["drain_seconds"]) <= 300 + 10


# A zero count is readable only CloudWatch's ingestion delay (the simulator's default 60 s) after it happened.
INGESTION = FleetSpec().metric_ingestion_delay_seconds


@pytest.mark.parametrize(("inflight", "low", "high"), [(40.0, 40 + INGESTION, 70 + INGESTION), (None, 300, 315)])
def test_connections_metric_ends_the_drain_when_in_flight_work_ends(
        harness: MakeHarness, inflight: float | None, low: float, high: float) -> None:
    spec = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, inflight_seconds=inflight)})
    h = harness(spec)
    assert h.run()["status"] == "SUCCEEDED"
    details = drained(h.audit_records())
    assert low <= float(details["drain_seconds"]) <= high
    if inflight is None:
        assert details["ended_by"] in {"target_state", "deadline"}
    else:
        assert details["ended_by"] == "connections_metric"


def test_nothing_in_flight_ends_the_drain_in_a_small_fraction_of_the_delay(harness: MakeHarness) -> None:
    h = harness()
    assert h.run()["status"] == "SUCCEEDED"
    details = drained(h.audit_records())
    assert details["ended_by"] == "connections_metric"
    assert float(details["drain_seconds"]) <= 40 + INGESTION


def test_every_decision_emits_emf_metrics_by_group(harness: MakeHarness) -> None:
    h = harness()
    assert h.run()["status"] == "SUCCEEDED"
    names = {}
    for blob in h.rt.metrics:
        directive = blob["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "Nightshift" and blob["Group"] == "web"
        for metric in directive["Metrics"]:
            value = blob[metric["Name"]]
            names[metric["Name"]] = value[0] if isinstance(value, list) else value
    assert names["RemediationsStarted"] == 1.0 and names["RemediationsSucceeded"] == 1.0
    assert 0 < names["DrainSeconds"] < 300 and names["BootSeconds"] > 0 and names["TimeToHealthySeconds"] > 0
    assert names["InstancesOutOfService"] == 0.0  # the last word: back in service
