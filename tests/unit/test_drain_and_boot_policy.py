"""GIVEN drain/boot observations WHEN deciding THEN the wait ends exactly when the policy says."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from steps.domain import boot, drain

METRIC = drain.DrainPolicy("ssm", delay_seconds=300, margin_seconds=15, floor_seconds=5,
                           poll_seconds=10, quiet_checks=2)
TARGET = drain.DrainPolicy("target_state", 300, 15, 5, 10, 2)


def test_target_state_waits_for_the_delay_in_one_wait() -> None:
    first = drain.decide(TARGET, elapsed=0, gone_everywhere=False, quiet_readings=5)
    assert not first.done and first.wait_seconds == 300  # quiet readings are ignored for target_state
    assert drain.decide(TARGET, 300, True, 0) == drain.DrainDecision(True, "target_state", 0)


def test_signal_ends_the_drain_after_k_quiet_readings_but_not_before_the_floor() -> None:
    assert not drain.decide(METRIC, 20, False, 1).done
    early = drain.decide(METRIC, 2, False, 2)
    assert not early.done and early.wait_seconds == 3  # held back only by the 5 s floor
    done = drain.decide(METRIC, 20, False, 2)
    assert done.done and done.ended_by == "ssm"


def test_deadline_is_delay_plus_margin() -> None:
    assert not drain.decide(METRIC, 314, False, 0).done
    assert drain.decide(METRIC, 314, False, 0).wait_seconds == 1
    assert drain.decide(METRIC, 315, False, 0).ended_by == "deadline"


@given(st.floats(0, 4000), st.booleans(), st.integers(0, 10),
       st.sampled_from(["target_state", "ssm"]), st.integers(0, 3600))
def test_drain_never_ends_early_without_evidence_and_always_ends_by_the_deadline(
        elapsed: float, gone: bool, quiet: int, signal: str, delay: int) -> None:
    policy = drain.DrainPolicy(signal, delay, 15, 5, 10, 2)
    decision = drain.decide(policy, elapsed, gone, quiet)
    if decision.done and decision.ended_by == signal and signal != "target_state":
        assert quiet >= 2 and elapsed >= 5
    if elapsed >= delay + 15:
        assert decision.done
    if not decision.done:
        assert decision.wait_seconds >= 1 and elapsed + decision.wait_seconds <= delay + 15 + 1


SSM = boot.BootPolicy("ssm", poll_seconds=10, min_wait_seconds=120, deadline_seconds=900)
NONE = boot.BootPolicy("none", 10, 120, 900)


def test_status_ok_without_proof_of_reboot_is_not_done() -> None:
    # RebootInstances only queues the reboot: status checks read ok before anything happened.
    decision = boot.decide(SSM, requested_at=1000, elapsed=5, confirmed_by=None, boot_time=900, status_ok=True)
    assert decision.phase == boot.CONFIRMING


def test_a_boot_time_newer_than_the_request_proves_the_reboot() -> None:
    decision = boot.decide(SSM, 1000, 80, None, boot_time=1070, status_ok=True)
    assert decision.phase == boot.DONE and decision.confirmed_by == "boot_time"
    waiting = boot.decide(SSM, 1000, 80, None, boot_time=1070, status_ok=False)
    assert waiting.phase == boot.STATUS


def test_without_a_signal_the_minimum_wait_stands_in() -> None:
    first = boot.decide(NONE, 1000, 0, None, None, None)
    assert first.phase == boot.CONFIRMING and first.wait_seconds == 120
    assert boot.decide(NONE, 1000, 120, None, None, True).phase == boot.DONE


def test_deadline_times_out_with_the_reason() -> None:
    decision = boot.decide(SSM, 1000, 900, None, 900, True)
    assert decision.phase == boot.TIMED_OUT
    assert "no proof that the reboot happened" in decision.reason


def test_proof_of_reboot_by_hand() -> None:
    # a boot time must be strictly after the request (same second: it may be the old boot)
    assert boot.reboot_proven(SSM, 1000, 50, 1001) == "boot_time"
    assert boot.reboot_proven(SSM, 1000, 50, 1000) is None
    assert boot.reboot_proven(SSM, 1000, 5000, None) is None  # ssm: time alone proves nothing
    assert boot.reboot_proven(NONE, 1000, 119, None) is None
    assert boot.reboot_proven(NONE, 1000, 120, None) == "min_wait"
    assert boot.decide(NONE, 1000, 120, None, None, True).confirmed_by == "min_wait"
