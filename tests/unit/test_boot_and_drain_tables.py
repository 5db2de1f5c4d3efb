"""Every field of the boot and drain decisions, as hand-written tables.

The reason is what the audit trail says (BOOT_TIMED_OUT quotes it); the wait is what the next Wait state
sleeps and what the lease is renewed past (``lease.keep(ctx, decision.wait_seconds)``, also on a final
decision, where it is 0). Waits are whole seconds, rounded up, never below 1, never past the deadline.
"""

from __future__ import annotations

import pytest

from steps.domain import boot, drain
from steps.domain.boot import CONFIRMING, DONE, STATUS, TIMED_OUT, BootDecision
from steps.domain.drain import DrainDecision

# poll every 10 s, 120 s stand in for a proof without a signal, give up at 900 s
SSM = boot.BootPolicy("ssm", poll_seconds=10, min_wait_seconds=120, deadline_seconds=900)
NONE = boot.BootPolicy("none", poll_seconds=10, min_wait_seconds=120, deadline_seconds=900)
SHORT = boot.BootPolicy("none", poll_seconds=10, min_wait_seconds=120, deadline_seconds=100)
ZERO_POLL = boot.BootPolicy("ssm", poll_seconds=0, min_wait_seconds=120, deadline_seconds=900)

NO_PROOF = "waiting for a boot time newer than the request"
STATUS_WAIT = "waiting for status checks"
MIN_WAIT = "waiting the minimum boot time"


@pytest.mark.parametrize(("policy", "elapsed", "confirmed_by", "boot_time", "status_ok", "expected"), [
    # requested at 1000 in every case
    (SSM, 80, None, 1070, True, BootDecision(DONE, "boot_time", 0,
                                              "rebooted (proven by boot_time) and status checks ok")),
    # proven by an earlier check (recorded), no boot time read this time
    (SSM, 30, "boot_time", None, True, BootDecision(DONE, "boot_time", 0,
                                                     "rebooted (proven by boot_time) and status checks ok")),
    (NONE, 120, None, None, True, BootDecision(DONE, "min_wait", 0,
                                                "rebooted (proven by min_wait) and status checks ok")),
    # status ok without proof: not done (RebootInstances only queues the reboot)
    (SSM, 5, None, 900, True, BootDecision(CONFIRMING, None, 10, NO_PROOF)),
    (SSM, 5, None, None, None, BootDecision(CONFIRMING, None, 10, NO_PROOF)),
    (SSM, 100, None, 1001, False, BootDecision(STATUS, "boot_time", 10, STATUS_WAIT)),
    (SSM, 100, "boot_time", None, None, BootDecision(STATUS, "boot_time", 10, STATUS_WAIT)),
    (NONE, 120, None, None, False, BootDecision(STATUS, "min_wait", 10, STATUS_WAIT)),
    # the last poll before the deadline waits only up to it, rounded up to whole seconds
    (SSM, 895.2, None, None, None, BootDecision(CONFIRMING, None, 5, NO_PROOF)),
    (SSM, 899.5, None, None, None, BootDecision(CONFIRMING, None, 1, NO_PROOF)),
    (SSM, 891, "boot_time", None, False, BootDecision(STATUS, "boot_time", 9, STATUS_WAIT)),
    (SSM, 890, "boot_time", None, False, BootDecision(STATUS, "boot_time", 10, STATUS_WAIT)),
    # a policy polling every 0 s still waits 1 s (a Wait of 0 would spin)
    (ZERO_POLL, 10, None, None, None, BootDecision(CONFIRMING, None, 1, NO_PROOF)),
    # no signal: wait out the rest of the minimum boot time in one Wait, rounded up
    (NONE, 0, None, None, None, BootDecision(CONFIRMING, None, 120, MIN_WAIT)),
    (NONE, 100.5, None, None, None, BootDecision(CONFIRMING, None, 20, MIN_WAIT)),
    (NONE, 119.9, None, None, None, BootDecision(CONFIRMING, None, 1, MIN_WAIT)),
    (SHORT, 50.5, None, None, None, BootDecision(CONFIRMING, None, 50, MIN_WAIT)),  # the deadline comes first
    # the deadline: the reason says what was missing, when, and the deadline
    (SSM, 900, None, 900, True, BootDecision(
        TIMED_OUT, None, 0, "no proof that the reboot happened 900 s after the reboot request (deadline 900 s)")),
    (SSM, 950.7, None, 1001, False, BootDecision(
        TIMED_OUT, "boot_time", 0, "status checks not ok 950 s after the reboot request (deadline 900 s)")),
    (SSM, 901, "boot_time", None, None, BootDecision(
        TIMED_OUT, "boot_time", 0, "status checks not ok 901 s after the reboot request (deadline 900 s)")),
    (SHORT, 100, None, None, None, BootDecision(
        TIMED_OUT, None, 0, "no proof that the reboot happened 100 s after the reboot request (deadline 100 s)")),
])
def test_boot_decision_in_full(policy: boot.BootPolicy, elapsed: float, confirmed_by: str | None,
                               boot_time: int | None, status_ok: bool | None, expected: BootDecision) -> None:
    assert boot.decide(policy, 1000, elapsed, confirmed_by, boot_time, status_ok) == expected


# ssm signal: delay 300 + margin 15 = deadline 315; never before 5 s; poll 10 s; 2 quiet readings end it
METRIC = drain.DrainPolicy("ssm", delay_seconds=300, margin_seconds=15, floor_seconds=5, poll_seconds=10,
                           quiet_checks=2)
TARGET = drain.DrainPolicy("target_state", delay_seconds=300, margin_seconds=15, floor_seconds=5, poll_seconds=10,
                           quiet_checks=2)
GONE = DrainDecision(True, "target_state", 0)
SIGNAL = DrainDecision(True, "ssm", 0)
DEADLINE = DrainDecision(True, "deadline", 0)


def waiting(seconds: int) -> DrainDecision:
    return DrainDecision(False, None, seconds)


@pytest.mark.parametrize(("policy", "elapsed", "gone", "quiet", "expected"), [
    (METRIC, 0, True, 0, GONE),
    (METRIC, 400, True, 5, GONE),  # gone everywhere says it first
    (METRIC, 5, False, 2, SIGNAL),
    (METRIC, 400, False, 3, SIGNAL),  # the signal ended it, not the deadline
    (METRIC, 315, False, 1, DEADLINE),
    (METRIC, 314, False, 0, waiting(1)),
    (METRIC, 314.2, False, 0, waiting(1)),
    (METRIC, 310.5, False, 0, waiting(5)),  # 4.5 s to the deadline, rounded up
    (METRIC, 5, False, 1, waiting(10)),
    (METRIC, 0, False, 0, waiting(10)),
    (METRIC, 3, False, 2, waiting(2)),  # proven idle, held back by the 5 s floor only
    (METRIC, 2.5, False, 2, waiting(3)),
    (METRIC, 4.999, False, 5, waiting(1)),
    (TARGET, 0, False, 5, waiting(300)),  # quiet readings mean nothing to target_state: one Wait for the delay
    (TARGET, 100.4, False, 0, waiting(200)),
    (TARGET, 295.5, False, 0, waiting(10)),  # the delay is almost over: poll
    (TARGET, 310, False, 9, waiting(5)),  # up to the deadline only
    (TARGET, 20, True, 0, GONE),
    (TARGET, 315, False, 9, DEADLINE),
])
def test_drain_decision_in_full(policy: drain.DrainPolicy, elapsed: float, gone: bool, quiet: int,
                                expected: DrainDecision) -> None:
    assert drain.decide(policy, elapsed, gone, quiet) == expected


def test_the_drain_deadline_is_the_delay_plus_the_margin() -> None:
    assert METRIC.deadline_seconds == 315
    assert drain.DrainPolicy("ssm", 0, 15, 5, 10, 2).deadline_seconds == 15
