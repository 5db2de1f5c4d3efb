"""When may the drain wait end? Pure (docs/design.md, "The remediation workflow", step 5).

``DescribeTargetHealth`` shows ``draining`` for the whole deregistration delay even when nothing is in
flight, so target state alone can never end the wait early. The wait ends at the earliest of:
the target is gone everywhere; the drain signal proved "no in-flight work" for K consecutive distinct
readings (never before the floor); or the delay plus a margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from steps.domain import waits

TARGET_GONE = "target_state"
DEADLINE = "deadline"


@dataclass(frozen=True)
class DrainPolicy:
    signal: str  # target_state | ssm
    delay_seconds: int
    margin_seconds: int
    floor_seconds: int
    poll_seconds: int
    quiet_checks: int

    @property
    def deadline_seconds(self) -> int:
        return self.delay_seconds + self.margin_seconds


@dataclass(frozen=True)
class DrainDecision:
    done: bool
    ended_by: str | None
    wait_seconds: int


def decide(policy: DrainPolicy, elapsed: float, gone_everywhere: bool, quiet_readings: int) -> DrainDecision:
    if gone_everywhere:
        return DrainDecision(True, TARGET_GONE, 0)
    if policy.signal != TARGET_GONE and quiet_readings >= policy.quiet_checks and elapsed >= policy.floor_seconds:
        return DrainDecision(True, policy.signal, 0)
    if waits.expired(elapsed, policy.deadline_seconds):
        return DrainDecision(True, DEADLINE, 0)
    if policy.signal == TARGET_GONE:
        # Nothing can end the wait before the delay expires: wait for it instead of polling through it.
        wait = max(policy.poll_seconds, policy.delay_seconds - elapsed)
    elif quiet_readings >= policy.quiet_checks:
        wait = policy.floor_seconds - elapsed  # proven idle, held back only by the floor
    else:
        wait = policy.poll_seconds
    return DrainDecision(False, None, waits.next_wait(wait, elapsed, policy.deadline_seconds))
