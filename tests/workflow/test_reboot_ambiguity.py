"""The reboot step dies between its write-ahead `rebooting` record and recording RebootInstances as sent: the
record alone cannot say whether the reboot went out. The instance's boot time can, and the remediation ends
with exactly one reboot either way, counted at the API (faults injected at the AWS layer, real ASL)."""

from __future__ import annotations

from typing import Any

import pytest

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import LEAKER, Harness

REBOOT = "nightshift-reboot-instance"


def accepted(h: Harness, operation: str) -> list[Any]:
    return [c for c in h.rt.api_calls() if c.accepted and c.operation == operation]


def test_died_after_the_write_ahead_before_the_call_the_boot_time_proves_no_reboot_and_it_is_sent_once(
        harness: Any) -> None:
    h = harness()
    # The write-ahead PutItem takes effect, then the runtime dies: RebootInstances was never called.
    fault = h.rt.inject_after("dynamodb", "PutItem", 1, REBOOT, crash="Lambda.Unknown")
    out = h.run(reason="reboot ambiguity")
    assert fault.fired
    assert out["status"] == "SUCCEEDED", out
    reboots = accepted(h, "RebootInstances")
    assert len(reboots) == 1 and reboots[0].params["InstanceIds"] == [h.leaker]
    assert len(h.sim.reboots(h.leaker)) == 1
    assert not accepted(h, "StopInstances"), "the ladder must not stand in for a reboot that can still be sent"
    events = h.audit_events()
    assert "REBOOT_NOT_QUEUED" in events and events.count("REBOOT_REQUESTED") == 1
    assert events.index("REBOOT_NOT_QUEUED") < events.index("REBOOT_REQUESTED") < events.index("REBOOTED")
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()


@pytest.mark.parametrize("os", [
    InstanceSpec(leak_to_percent=85.0, hard_reboot_after_seconds=240.0),
    # still up (its agent answering with the old boot time) for 200 s before it shuts down cleanly
    InstanceSpec(leak_to_percent=85.0, reboot_queue_seconds=200.0),
], ids=["hung-os-hard-rebooted", "slow-clean-shutdown"])
def test_died_right_after_an_accepted_reboot_it_is_never_sent_again(harness: Any, os: InstanceSpec) -> None:
    """The same record, but the call went out, and the kernel restarts only minutes later: the boot check
    waits for that proof and never sends a second RebootInstances (an old boot time read too soon after the
    request proves nothing)."""
    h = harness(FleetSpec(leaking={LEAKER: os}))
    fault = h.rt.inject_after("ec2", "RebootInstances", 1, REBOOT, crash="Lambda.Unknown")
    out = h.run(reason="reboot ambiguity, late reboot")
    assert fault.fired
    assert out["status"] == "SUCCEEDED", out
    assert len(accepted(h, "RebootInstances")) == 1
    assert len(h.sim.reboots(h.leaker)) == 1
    assert "REBOOT_NOT_QUEUED" not in h.audit_events()
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()


def test_a_throttled_reboot_whose_retry_is_accepted_and_then_dies_is_not_sent_a_third_time(harness: Any) -> None:
    """Attempt 1 is throttled (recorded refused: nothing queued); attempt 2 is accepted and the runtime dies
    before recording it. Attempt 3 must find an unconfirmed request, not the old refusal: one reboot."""
    h = harness(FleetSpec(leaking={LEAKER: InstanceSpec(leak_to_percent=85.0, reboot_queue_seconds=200.0)}))
    throttled = h.rt.inject("ec2", "RebootInstances", "RequestLimitExceeded", "Rate exceeded", 400, 1, REBOOT)
    died = h.rt.inject_after("ec2", "RebootInstances", 1, REBOOT, crash="Lambda.Unknown")
    out = h.run(reason="throttled, then accepted and lost")
    assert throttled.fired and died.fired
    assert out["status"] == "SUCCEEDED", out
    assert len(accepted(h, "RebootInstances")) == 1
    assert len(h.sim.reboots(h.leaker)) == 1
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()


def test_with_no_boot_signal_a_reboot_whose_answer_was_never_seen_is_audited_as_assumed_not_proven(
        harness: Any) -> None:
    """boot.signal none cannot prove a reboot: REBOOTED says it is assumed, and that the request's answer was
    never seen, when the reboot step died after its write-ahead (found by review: it read "proven")."""
    h = harness(boot={"signal": "none"})
    fault = h.rt.inject_after("dynamodb", "PutItem", 1, REBOOT, crash="Lambda.Unknown")
    out = h.run(reason="reboot ambiguity, no boot signal")
    assert fault.fired and out["status"] == "SUCCEEDED", out
    rebooted = next(r for r in h.audit_records() if r["event"] == "REBOOTED")
    assert "never seen" in rebooted["reason"] and "proven" not in rebooted["reason"]
    assert rebooted["details"]["request_answer_seen"] is False


def test_a_reboot_accepted_but_answered_with_a_5xx_is_not_sent_again(harness: Any) -> None:
    """EC2 queues the reboot and answers InternalError (500): the call may well have been accepted (AWS: a
    mutating request may "encounter other server issues" after it took effect; RebootInstances has no client
    token). Before, a 5xx counted as "nothing queued" and the Retry sent a second RebootInstances."""
    from botocore.exceptions import ClientError

    h = harness()

    def internal_error() -> BaseException:
        return ClientError({"Error": {"Code": "InternalError", "Message": "An internal error has occurred"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}, "RebootInstances")

    assert h.rt.interceptor is not None
    fault = h.rt.interceptor.inject_after("ec2", "RebootInstances", internal_error, 1, REBOOT)
    out = h.run(reason="reboot answered 5xx")
    assert fault.fired and out["status"] == "SUCCEEDED", out
    assert len(accepted(h, "RebootInstances")) == 1 and len(h.sim.reboots(h.leaker)) == 1
    assert "REBOOT_NOT_QUEUED" not in h.audit_events()
    assert h.in_service_everywhere(h.leaker) and not h.lock_held()


def test_a_reboot_refused_with_a_5xx_is_sent_once_the_boot_time_proves_none_was_queued(harness: Any) -> None:
    """The same answer when EC2 did not queue it: nothing is resent on the record alone; the boot check proves
    from the boot time that no reboot was queued, and the reboot is sent once more."""
    h = harness()
    fault = h.rt.inject("ec2", "RebootInstances", "InternalError", "An internal error has occurred", 500, times=1,
                        function=REBOOT)
    out = h.run(reason="reboot refused 5xx")
    assert fault.fired and out["status"] == "SUCCEEDED", out
    assert len(accepted(h, "RebootInstances")) == 1 and len(h.sim.reboots(h.leaker)) == 1
    events = h.audit_events()
    assert events.index("REBOOT_NOT_QUEUED") < events.index("REBOOT_REQUESTED")


def test_with_no_boot_signal_an_answered_reboot_is_audited_as_assumed_with_its_answer_seen(harness: Any) -> None:
    h = harness(boot={"signal": "none"})
    assert h.run()["status"] == "SUCCEEDED"
    rebooted = next(r for r in h.audit_records() if r["event"] == "REBOOTED")
    assert "assumed after the minimum wait" in rebooted["reason"] and "never seen" not in rebooted["reason"]
    assert rebooted["details"]["request_answer_seen"] is True
