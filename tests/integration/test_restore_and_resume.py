"""The restore path and the replay's resume step, called directly (fast enough for `make mutation`):
what they put back, what they record, and what they say is left to do."""

from __future__ import annotations

from typing import Any

from steps.store import audit, lifecycle
from tests.harness import Steps

FAILED_RUN = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:failed-run"
ERROR = {"Error": "AwsCallFailed", "Cause": "RebootInstances: UnauthorizedOperation"}


def trail() -> list[dict[str, Any]]:
    return [audit.as_dict(r) for r in audit.for_group("web")]


def drain(steps: Steps) -> None:
    steps.validate()
    steps.call("select-worst-instance", "selection")
    steps.call("deregister-instance", "deregistration")


def registered_everywhere(steps: Steps) -> bool:
    return all(steps.sim.target_state(steps.leaker, tg) in {"initial", "healthy"}
               for tg in steps.built.target_group_arns)


def as_replay(steps: Steps) -> None:
    steps.state["request"] = {**steps.state["request"], "trigger": "replay", "replay_of": FAILED_RUN}


def test_restore_puts_back_what_the_record_says_and_audits_the_cause(steps: Steps) -> None:
    drain(steps)
    assert not registered_everywhere(steps)
    out = steps.call("restore-service", error=ERROR)
    assert out == {"status": "failed", "error": "AwsCallFailed", "cause": ERROR["Cause"], "restored": True}
    assert registered_everywhere(steps)
    assert lifecycle.load("it-1").state == "restored"
    records = trail()
    assert [r["event"] for r in records[-2:]] == ["RESTORED", "FAILED"]
    restored, failed = records[-2:]
    assert restored["instance_id"] == steps.leaker and "back in 2 target group(s)" in restored["reason"]
    assert restored["details"]["error"] == "AwsCallFailed"
    assert sorted(restored["details"]["target_groups"]) == sorted(steps.built.target_group_arns)
    assert restored["details"]["standby"] == "not_needed" and restored["details"]["being_replaced"] is False
    assert failed["details"]["error"] == "AwsCallFailed" and failed["details"]["cause"] == ERROR["Cause"]
    assert failed["details"]["lifecycle_state"] == "restored"
    assert sorted(failed["details"]["restored_to"]) == sorted(steps.built.target_group_arns)
    # A Retry of the restore changes nothing and does not move the record again
    again = steps.call("restore-service", error=ERROR)
    assert again["restored"] is True and lifecycle.load("it-1").state == "restored"


def test_restore_before_anything_left_service_fails_the_record_and_touches_nothing(steps: Steps) -> None:
    steps.validate()
    steps.call("select-worst-instance", "selection")
    out = steps.call("restore-service", error=ERROR)
    assert out["restored"] is False and out["status"] == "failed"
    assert lifecycle.load("it-1").state == "failed"
    assert [r["event"] for r in trail()][-1] == "FAILED"
    assert "RESTORED" not in [r["event"] for r in trail()]
    assert registered_everywhere(steps)


def test_restore_without_error_information_says_so(steps: Steps) -> None:
    drain(steps)
    out = steps.call("restore-service")
    assert out["error"] == "Unknown" and out["cause"] == "no error information"


def test_a_long_cause_is_cut_to_2000_characters(steps: Steps) -> None:
    drain(steps)
    out = steps.call("restore-service", error={"Error": "X", "Cause": "c" * 5000})
    assert len(out["cause"]) == 2000
    assert len(trail()[-1]["details"]["cause"]) == 2000


def test_resume_after_a_restored_run_that_never_rebooted_starts_over_on_the_same_instance(steps: Steps) -> None:
    drain(steps)
    steps.call("restore-service", error=ERROR)
    as_replay(steps)
    out = steps.call("resume-remediation")
    assert out["resume"] == {"next": "select", "put_back": [], "instance_id": steps.leaker}
    assert lifecycle.load("it-1").state == "requested"
    assert trail()[-1]["event"] == "REPLAY_RESUMED"


def test_resume_after_a_requested_reboot_only_verifies(steps: Steps) -> None:
    drain(steps)
    steps.call("reboot-instance", "reboot")
    steps.call("restore-service", error=ERROR)
    as_replay(steps)
    out = steps.call("resume-remediation")
    assert out["resume"]["next"] == "verify"
    assert out["deregistration"]["instance_id"] == steps.leaker
    assert lifecycle.load("it-1").state == "verifying"
    assert trail()[-1]["event"] == "REPLAY_VERIFY"
    assert len(steps.sim.reboot_requests(steps.leaker)) == 1


def test_resume_of_a_run_that_died_mid_drain_puts_it_back_first(steps: Steps) -> None:
    drain(steps)  # the run died here: no restore
    as_replay(steps)
    out = steps.call("resume-remediation")
    assert registered_everywhere(steps)
    assert sorted(out["resume"]["put_back"]) == sorted(steps.built.target_group_arns)
    assert out["resume"]["next"] == "select" and out["resume"]["instance_id"] == steps.leaker
    events = [r["event"] for r in trail()]
    assert events[-2:] == ["RESTORED", "REPLAY_RESUMED"]
    assert lifecycle.load("it-1").state == "requested"


def test_resume_of_an_ended_remediation_has_nothing_to_do(steps: Steps) -> None:
    steps.validate()
    record = lifecycle.load("it-1")
    lifecycle.advance(record, "find_nothing", {}, steps.rt.clock.now(), steps.execution_id)
    as_replay(steps)
    out = steps.call("resume-remediation")
    assert out["resume"] == {"next": "done", "state": "nothing_to_do"}
    assert trail()[-1]["event"] == "REPLAY_NOT_NEEDED"


def _failed(remediation_id: str, execution: str, at: float) -> None:
    audit.record(audit.AuditEntry(group="web", event="FAILED", reason="remediation failed (test)", at=at,
                                  execution_id=execution, remediation_id=remediation_id,
                                  details={"error": "AwsUnavailable", "cause": "test"}))


def test_a_remediation_that_failed_and_whose_replay_failed_is_one_failure_for_the_storm_breaker(
        steps: Steps) -> None:
    """The operator replays a failed remediation, the replay fails too (an outage), and the operator replays
    it again once the outage is over: that is one failed remediation (limit 2), not two, so the group is not
    paused. A second remediation's failure does trip the breaker."""
    steps.validate()
    now = steps.rt.clock.now()
    _failed("it-0", FAILED_RUN, now - 600)
    _failed("it-0", FAILED_RUN.replace("failed-run", "replay-1"), now - 300)
    steps.call("select-worst-instance", "selection")
    out = steps.call("check-capacity")
    assert out["allowed"] is True, out
    assert "STORM_BREAKER" not in [r["event"] for r in trail()]
    _failed("it-other", FAILED_RUN.replace("failed-run", "other"), now - 200)
    out = steps.call("check-capacity")
    assert out["allowed"] is False and out["code"] == "STORM_BREAKER", out
