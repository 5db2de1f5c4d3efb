"""The ssm drain signal when things go wrong: a lost SSM answer, a failing ss, a port override."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow

DRAIN = {"signal": "ssm", "poll_seconds": 10, "margin_seconds": 15}


@pytest.mark.parametrize("operation", ["SendCommand", "GetCommandInvocation"])
def test_a_lost_ssm_answer_is_retried_and_the_instance_is_healed(harness: Any, operation: str) -> None:
    # GIVEN the first drain-signal call's answer is lost (a read timeout after SSM did the work)
    spec = FleetSpec(deregistration_delay=120, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)})
    h = harness(spec, drain=DRAIN, boot={"signal": "none"})
    h.rt.inject_after("ssm", operation, times=1)
    result = h.run()
    # THEN the step's Retry sends it again (AwsUnavailable) and the remediation heals with one reboot
    assert result["status"] == "SUCCEEDED", result.get("cause")
    events = h.audit_events()
    assert "DRAINED" in events and "RESTORED" not in events and events[-1] == "HEALTHY"
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)


def _drained(h: Any) -> dict[str, Any]:
    return dict(next(r for r in h.audit_records() if r["event"] == "DRAINED")["details"])


def test_a_failing_ss_never_ends_the_drain_early_and_the_instance_is_healed(harness: Any) -> None:
    # GIVEN a leaking host whose ss fails (prints nothing, exits non-zero), nothing in flight
    spec = FleetSpec(deregistration_delay=120, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, ss_fails=True)})
    h = harness(spec, drain=DRAIN, boot={"signal": "none"})
    result = h.run()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    # THEN every reading failed ("proves nothing"): the drain waits for the deregistration delay
    details = _drained(h)
    assert details["ended_by"] in ("deadline", "target_state")
    assert float(details["drain_seconds"]) >= 120
    # AND the remediation still heals, with one reboot
    events = h.audit_events()
    assert "RESTORED" not in events and events[-1] == "HEALTHY"
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)


def test_half_closed_requests_in_flight_keep_the_drain_open(harness: Any) -> None:
    # GIVEN a leaker whose draining connections are all half-closed by their clients (CLOSE-WAIT here) and
    # whose requests take 60 s to finish after deregistration
    leaker = InstanceSpec(leak_to_percent=85.0, inflight_seconds=60.0, close_wait_connections=1000)
    h = harness(FleetSpec(deregistration_delay=300, leaking={LEAKER: leaker}), drain=DRAIN, boot={"signal": "none"})
    assert h.run()["status"] == "SUCCEEDED"
    # THEN the drain waits for them (a 'state established' count reads 0 at once) and ends when they are done
    details = _drained(h)
    assert details["ended_by"] == "ssm"
    assert 60 <= float(details["drain_seconds"]) <= 100
    # AND no request was in flight when the OS went down
    stops = h.sim.reboots(h.leaker)[0]
    assert h.sim.connections(h.leaker, at=stops - 1e-6) == 0


def test_targets_registered_with_a_port_override_are_deregistered_with_their_port(harness: Any) -> None:
    # GIVEN an HTTP target group on port 80 whose targets are registered on 8080 (a port override), and
    # requests that take 40 s to finish after deregistration
    spec = FleetSpec(target_ports=(443, 8080), target_group_ports=(443, 80), deregistration_delay=120,
                     leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, inflight_seconds=40.0)})
    h = harness(spec, drain=DRAIN, boot={"signal": "none"})
    assert h.run()["status"] == "SUCCEEDED"
    # THEN every DeregisterTargets names the port the target is registered on
    http, https = h.built.target_group_arns[1], h.built.target_group_arns[0]
    sent = [(arn, targets) for arn, targets in h.sim.deregister_requests]
    assert (https, [{"Id": h.leaker, "Port": 443}]) in sent and (http, [{"Id": h.leaker, "Port": 8080}]) in sent
    assert all("Port" in target for _, targets in sent for target in targets)
    # AND the drain really drained both groups: nothing in flight when the OS went down
    stops = h.sim.reboots(h.leaker)[0]
    assert h.sim.connections(h.leaker, at=stops - 1e-6) == 0
    assert _drained(h)["ended_by"] == "ssm"
    # AND it is healed, back on 8080
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)
    ports = {d["Target"]["Port"] for d in h.rt.client("elbv2").describe_target_health(
        TargetGroupArn=http, Targets=[{"Id": h.leaker}])["TargetHealthDescriptions"]}
    assert ports == {8080}
