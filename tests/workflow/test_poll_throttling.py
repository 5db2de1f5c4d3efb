"""Throttling never fails a remediation (issue 17, item 3; docs/design.md, "Polls at fleet scale"): a poll whose
read AWS throttles has no reading that turn and polls again until its own deadline, which still bounds it. The
real state machine on moto; throttling injected at the AWS layer for one step's calls only.

Each case throttles more consecutive calls than the Task's Retry takes (6 attempts after the first), so without
the rule the step would fail into the restore path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import LEAKER

pytestmark = pytest.mark.workflow

ELB = "elastic-load-balancing-v2"
THROTTLING = ("Throttling", "Rate exceeded (injected)", 400)  # ELBv2's throttling error (tests/faults/matrix.py)
EC2_THROTTLING = ("RequestLimitExceeded", "Request limit exceeded. (injected)", 503)
SSM_THROTTLING = ("ThrottlingException", "Rate exceeded (injected)", 400)
TIMES = 10  # more than the Task Retry's 6 attempts (statemachine/remediate.asl.json)


def audited(h: Any, event: str) -> list[dict[str, Any]]:
    return [r for r in h.audit_records() if r["event"] == event]


def assert_healed_once(h: Any, result: dict[str, Any]) -> None:
    assert result["status"] == "SUCCEEDED", result.get("cause")
    events = h.audit_events()
    assert "RESTORED" not in events and "FAILED" not in events and events[-1] == "HEALTHY", events
    assert len(h.sim.reboot_requests(h.leaker)) == 1 and h.in_service_everywhere(h.leaker)


def test_health_polls_throttled_for_a_while_keep_polling_and_the_remediation_heals(harness: Any) -> None:
    # GIVEN every DescribeTargetHealth of the health poll throttled, TIMES calls in a row
    h = harness(boot={"signal": "none"})
    fault = h.rt.inject(ELB, "DescribeTargetHealth", *THROTTLING, TIMES, "nightshift-check-health")
    result = h.run()
    # THEN the poll waited those turns out and the remediation healed the leaker
    assert fault.fired == TIMES
    assert_healed_once(h, result)
    # AND it was audited once for the execution, naming the call
    (throttled,) = audited(h, "POLL_THROTTLED")
    assert throttled["details"]["call"] == "DescribeTargetHealth" and throttled["details"]["step"] == "check_health"


def test_a_drain_whose_every_read_is_throttled_ends_at_its_deadline_and_the_remediation_heals(harness: Any) -> None:
    # GIVEN the drain poll's every read throttled: target health and the SSM connection count
    spec = FleetSpec(deregistration_delay=120, leaking={LEAKER: InstanceSpec(leak_to_percent=85.0)})
    h = harness(spec, drain={"signal": "ssm", "poll_seconds": 10, "margin_seconds": 15}, boot={"signal": "none"})
    for service, operation, error in ((ELB, "DescribeTargetHealth", THROTTLING),
                                      ("ssm", "SendCommand", SSM_THROTTLING),
                                      ("ssm", "GetCommandInvocation", SSM_THROTTLING)):
        h.rt.inject(service, operation, *error, None, "nightshift-check-drain")
    result = h.run()
    # THEN no reading could end the drain early: it ended as its deadline says (the delay and the margin)
    (drained,) = audited(h, "DRAINED")
    assert drained["details"]["ended_by"] == "deadline", drained
    assert float(drained["details"]["drain_seconds"]) >= 120 + 15
    assert_healed_once(h, result)
    assert len(audited(h, "POLL_THROTTLED")) == 1


def test_boot_polls_throttled_for_a_while_keep_polling_and_the_remediation_heals(harness: Any) -> None:
    # GIVEN the boot poll's status checks (DescribeInstanceStatus) throttled TIMES calls in a row
    h = harness(boot={"signal": "ssm"})
    fault = h.rt.inject("ec2", "DescribeInstanceStatus", *EC2_THROTTLING, TIMES, "nightshift-check-boot")
    result = h.run()
    assert fault.fired == TIMES
    assert_healed_once(h, result)
    assert [r["details"]["call"] for r in audited(h, "POLL_THROTTLED")] == ["DescribeInstanceStatus"]


def test_health_polls_throttled_past_their_deadline_end_as_the_deadline_says_not_as_a_throttling_failure(
        harness: Any) -> None:
    # GIVEN every DescribeTargetHealth of the health poll throttled, for good; a 60 s health deadline and a
    # ladder of leave_out only
    h = harness(boot={"signal": "none"}, health={"deadline_seconds": 60},
                escalation={"rungs": [{"action": "leave_out"}]})
    h.rt.inject(ELB, "DescribeTargetHealth", *THROTTLING, None, "nightshift-check-health")
    result = h.run()
    # THEN the health deadline ended the wait (HEALTH_TIMED_OUT: the ladder), never the throttling (no Task failed
    # on AwsThrottled, nothing was restored as a failure)
    events = h.audit_events()
    assert "HEALTH_TIMED_OUT" in events and "LEFT_OUT_OF_SERVICE" in events, events
    assert "FAILED" not in events and "AwsThrottled" not in json.dumps(result.get("cause") or "")
    assert len(audited(h, "POLL_THROTTLED")) == 1
    (timed_out,) = audited(h, "HEALTH_TIMED_OUT")
    assert float(timed_out["details"]["elapsed_seconds"]) >= 60


def test_throttled_polls_in_two_loops_are_audited_once_per_execution(harness: Any) -> None:
    h = harness(boot={"signal": "none"})
    for function in ("nightshift-check-drain", "nightshift-check-health"):
        h.rt.inject(ELB, "DescribeTargetHealth", *THROTTLING, 3, function)
    result = h.run()
    assert_healed_once(h, result)
    assert [r["details"]["step"] for r in audited(h, "POLL_THROTTLED")] == ["check_drain"]


def broken_app(new_host_cures: bool, asg: bool = False) -> FleetSpec:
    """The leaker's app never passes health checks after its reboot (tests/workflow/test_escalation.py)."""
    from nightshift.sim import AutoScalingSpec

    spec = InstanceSpec(leak_to_percent=85.0, app_fails=True, new_host_cures=new_host_cures)
    return FleetSpec(leaking={LEAKER: spec}, auto_scaling=AutoScalingSpec(min_size=2) if asg else None)


def outcome(result: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(result["output"])["outcome"])


def test_a_stop_start_rung_whose_status_reads_are_throttled_for_a_while_still_heals(harness: Any) -> None:
    # GIVEN a reboot that does not heal, a new host that does, and the rung's DescribeInstanceStatus throttled
    # TIMES calls in a row
    h = harness(broken_app(new_host_cures=True), health={"deadline_seconds": 120})
    fault = h.rt.inject("ec2", "DescribeInstanceStatus", *EC2_THROTTLING, TIMES, "nightshift-stop-start-instance")
    result = h.run()
    # THEN nothing was sent without a reading, the rung polled on, and stopped and started the leaker once
    assert fault.fired == TIMES
    assert result["status"] == "SUCCEEDED" and outcome(result)["status"] == "remediated", result.get("cause")
    assert [a for a, _ in h.sim.stop_start_requests(h.leaker)] == ["stop", "start"]
    assert "STOP_STARTED" in h.audit_events() and h.in_service_everywhere(h.leaker)
    assert [r["details"]["step"] for r in audited(h, "POLL_THROTTLED")] == ["stop_start_instance"]


def test_a_replace_rung_whose_target_health_reads_are_throttled_for_a_while_still_replaces(harness: Any) -> None:
    h = harness(broken_app(new_host_cures=False, asg=True), health={"deadline_seconds": 120})
    fault = h.rt.inject(ELB, "DescribeTargetHealth", *THROTTLING, TIMES, "nightshift-replace-instance")
    result = h.run()
    assert fault.fired == TIMES
    assert result["status"] == "SUCCEEDED", result.get("cause")
    ended = outcome(result)
    assert ended["status"] == "replaced" and ended["replacement"] in h.sim.replacements()
    assert h.audit_events().count("MARKED_UNHEALTHY") == 1
    assert [r["details"]["step"] for r in audited(h, "POLL_THROTTLED")] == ["replace_instance"]
