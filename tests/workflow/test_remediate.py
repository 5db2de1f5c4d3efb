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


@pytest.mark.parametrize(("inflight", "low", "high"), [(40.0, 40, 70), (None, 300, 315)])
def test_ssm_ends_the_drain_when_in_flight_work_ends(
        harness: MakeHarness, inflight: float | None, low: float, high: float) -> None:
    spec = FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, inflight_seconds=inflight)})
    h = harness(spec)
    assert h.run()["status"] == "SUCCEEDED"
    details = drained(h.audit_records())
    assert low <= float(details["drain_seconds"]) <= high
    if inflight is None:
        assert details["ended_by"] in {"target_state", "deadline"}
    else:
        assert details["ended_by"] == "ssm"


def test_nothing_in_flight_ends_the_drain_in_a_small_fraction_of_the_delay(harness: MakeHarness) -> None:
    # GIVEN instances that, like real hosts, hold SSM/CloudWatch agent, SSH, database and loopback connections
    # (on the service ports too) that never end, and nothing in flight from the load balancer
    h = harness()
    assert (h.sim.host_connections(h.leaker) or 0) > 0
    assert h.run()["status"] == "SUCCEEDED"
    details = drained(h.audit_records())
    # THEN the drain still ends early: only the load balancer's connections count
    assert details["ended_by"] == "ssm"
    assert float(details["drain_seconds"]) <= 40


def _connection_commands(h: Any) -> list[str]:
    return [line for command in h.sim.commands.values() if command.comment == "nightshift:connections"
            for line in command.commands]


def test_ssm_drain_counts_the_ports_the_target_is_registered_on(harness: MakeHarness) -> None:
    # GIVEN an app registered on 8443 (HTTPS group) and 8080 (HTTP group), never on 443 or 80, whose
    # in-flight requests take 40 s to finish after deregistration
    spec = FleetSpec(target_ports=(8443, 8080),
                     leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, inflight_seconds=40.0)})
    h = harness(spec)
    # WHEN it is remediated with the ssm drain signal
    assert h.run()["status"] == "SUCCEEDED"
    details = drained(h.audit_records())
    # THEN the drain waits for those requests (a static 443/80 script would read 0 at once and end it at the
    # floor, cutting them) and ends as soon as they are done, long before the 300 s delay
    assert details["ended_by"] == "ssm"
    assert 40 <= float(details["drain_seconds"]) <= 70
    # AND no request was in flight when the OS went down
    stops = h.sim.reboots(h.leaker)[0]
    assert h.sim.connections(h.leaker, at=stops - 1e-6) == 0
    # AND the commands sent count exactly the registered ports, from non-loopback peers
    commands = _connection_commands(h)
    assert commands and set(commands) == {
        "out=$(ss -Htn state established state close-wait '( sport = :8080 or sport = :8443 ) and not "
        "( dst 127.0.0.0/8 or dst [::1] )') || exit 1; "
        "if [ -z \"$out\" ]; then echo 0; else printf '%s\\n' \"$out\" | wc -l; fi"}


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
