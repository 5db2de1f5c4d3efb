"""Did the reboot really happen, and is the instance back? Pure (docs/design.md, "The remediation workflow", step 7).

``RebootInstances`` only queues a reboot (AWS falls back to a hard reboot when the OS does not shut
down within a few minutes), and status checks can read ``ok`` right after the call without proving
anything. So a reboot counts only when a boot signal newer than the request is seen; without a
signal, a minimum wait stands in for it (what the seed did with a fixed sleep).
"""

from __future__ import annotations

from dataclasses import dataclass

from steps.domain import waits

CONFIRMING = "confirming"  # waiting for proof the reboot happened
STATUS = "status"  # proven; waiting for status checks ok
DONE = "done"
TIMED_OUT = "timed_out"
RESEND = "resend"  # proven that no reboot was ever queued: the reboot step may send it (once)

# How long after the write-ahead ``rebooting`` record an accepted RebootInstances has certainly taken the
# kernel down: the call is made within the reboot Task's run (TimeoutSeconds 60), and EC2 hard-reboots an
# instance that does not shut down cleanly within a few minutes (earlier editions of the RebootInstances API
# reference said four: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RebootInstances.html).
# 600 s leaves a margin on both.
REBOOT_SETTLED_SECONDS = 600


@dataclass(frozen=True)
class BootPolicy:
    signal: str  # ssm | none
    poll_seconds: int
    min_wait_seconds: int
    deadline_seconds: int


@dataclass(frozen=True)
class BootDecision:
    phase: str
    confirmed_by: str | None
    wait_seconds: int
    reason: str


def reboot_proven(policy: BootPolicy, requested_at: float, elapsed: float, boot_time: int | None) -> str | None:
    """How the reboot is proven, or None while it is not."""
    if policy.signal == "ssm":
        if boot_time is not None and boot_time > requested_at:
            return "boot_time"
        return None
    return "min_wait" if elapsed >= policy.min_wait_seconds else None


def no_reboot_since(requested_at: float, command_sent_at: float | None, boot_time: int | None) -> bool:
    """True when the instance itself proves that no reboot was queued around ``requested_at``: a boot time
    read by a command sent ``REBOOT_SETTLED_SECONDS`` or more after it is still older than it (an accepted
    reboot would have restarted the kernel by then, so the boot time would be newer)."""
    return (boot_time is not None and command_sent_at is not None and boot_time <= requested_at
            and command_sent_at >= requested_at + REBOOT_SETTLED_SECONDS)


def decide(policy: BootPolicy, requested_at: float, elapsed: float, confirmed_by: str | None,
           boot_time: int | None, status_ok: bool | None) -> BootDecision:
    proven = confirmed_by or reboot_proven(policy, requested_at, elapsed, boot_time)
    if proven and status_ok:
        return BootDecision(DONE, proven, 0, f"rebooted (proven by {proven}) and status checks ok")
    if waits.expired(elapsed, policy.deadline_seconds):
        what = "status checks not ok" if proven else "no proof that the reboot happened"
        return BootDecision(TIMED_OUT, proven, 0,
                            f"{what} {int(elapsed)} s after the reboot request "
                            f"(deadline {policy.deadline_seconds} s)")
    if not proven and policy.signal == "none":
        return BootDecision(CONFIRMING, None,
                            waits.next_wait(policy.min_wait_seconds - elapsed, elapsed, policy.deadline_seconds),
                            "waiting the minimum boot time")
    phase = STATUS if proven else CONFIRMING
    reason = "waiting for status checks" if proven else "waiting for a boot time newer than the request"
    return BootDecision(phase, proven, waits.next_wait(policy.poll_seconds, elapsed, policy.deadline_seconds), reason)
