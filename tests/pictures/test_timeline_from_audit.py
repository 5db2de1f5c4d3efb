"""How the AWS-data picture is reconstructed, on hand-written audit records and history (no moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from nightshift.timeline import model_from_audit, render_timeline
from nightshift.timeline.history import wait_spans
from tests.pictures.svg_reading import read

ARN = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:replay-1"
TG = ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-https/1",
      "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-http/2"]
T0 = 1_800_000_000.0


def event(kind: str, at: float, **details: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": datetime.fromtimestamp(T0 + at, UTC), **details}


def history(end: float, *middle: dict[str, Any]) -> list[dict[str, Any]]:
    return [event("ExecutionStarted", 0, executionStartedEventDetails={"input": json.dumps({"group": "web"})}),
            event("LambdaFunctionScheduled", 0.1, lambdaFunctionScheduledEventDetails={
                "input": json.dumps({"execution_id": ARN, "state": {"request": {"group": "web"}}})}),
            *middle, event("ExecutionSucceeded", end)]


def record(at: float, name: str, execution_id: str = ARN, **details: Any) -> dict[str, Any]:
    return {"at": T0 + at, "group": "web", "event": name, "instance_id": "i-0abc", "execution_id": execution_id,
            "remediation_id": "r-1", "trigger": "replay", "reason": name.lower(), "details": details}


def test_a_replay_that_only_verifies_starts_initial_not_in_service() -> None:
    # GIVEN a replay whose failed run had already put the instance back: it only waits for health
    records = [record(0.5, "REPLAY_VERIFY"), record(30.5, "HEALTHY", states=dict.fromkeys(TG, "healthy"))]
    # WHEN the picture is reconstructed from AWS data
    picture = read(render_timeline(model_from_audit(records, history(31))))
    # THEN each target group is initial until the audited HEALTHY, then healthy
    for arn in TG:
        assert [(s.state, round(s.start, 1)) for s in picture.lanes[arn]] == [("initial", 0.0), ("healthy", 30.5)]


def test_a_failed_run_is_restored_and_the_capacity_stays_down() -> None:
    # GIVEN a run that failed during the boot check and was put back
    checks = [{"target_group": arn, "zone": None, "registered": 4, "healthy_now": 4, "healthy_after": 3,
               "required": 2, "ok": True} for arn in TG]
    records = [record(0.2, "CAPACITY_OK", checks=checks), record(1, "DEREGISTERED", target_groups=TG),
               record(21, "DRAINED", ended_by="deadline"), record(22, "REBOOT_REQUESTED"),
               record(200, "RESTORED", target_groups=TG), record(200.1, "FAILED", error="BootNotConfirmed"),
               record(5, "DEREGISTERED", execution_id=ARN + "-other", target_groups=TG)]
    # WHEN the picture is reconstructed
    model = model_from_audit(records, history(201))
    picture = read(render_timeline(model))
    # THEN: in service, draining until DRAINED, out of service, rebooting, then initial (put back, unverified)
    for arn in TG:
        assert [(s.state, round(s.start)) for s in picture.lanes[arn]] == [
            ("in_service", 0), ("draining", 1), ("out_of_service", 21), ("rebooting", 22), ("initial", 200)]
        # capacity: measured 4, one fewer once it left, never shown healthy again
        assert [h for _, h in picture.capacity[arn]] == [4, 4, 3]
    assert [m.event for m in model.markers] == ["DEREGISTERED", "DRAINED", "REBOOT_REQUESTED", "RESTORED", "FAILED"]
    assert all(not s.exact for lane in model.lanes for s in lane.segments)


def test_consecutive_visits_of_a_wait_state_are_one_span_even_while_still_waiting() -> None:
    def wait(kind: str, at: float) -> dict[str, Any]:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        return event(kind, at, **{key: {"name": "Wait for the boot"}})

    running = [event("ExecutionStarted", 0), wait("WaitStateEntered", 1), wait("WaitStateExited", 11),
               wait("WaitStateEntered", 12), wait("WaitStateExited", 22), wait("WaitStateEntered", 23),
               event("TaskStateEntered", 25)]
    (span,) = wait_spans(running)
    assert (span.start - T0, span.end - T0, span.visits) == (1, 25, 3)
