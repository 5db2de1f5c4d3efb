"""How long a poll loop waits before its next look. Pure.

Every poll loop of the remediation (the drain, the boot, the health check, the stop/start and replace rungs)
ends at a deadline counted from the loop's start, and Step Functions' Wait takes whole seconds. One rule for
all of them: wait what the loop wants, never past the deadline (the last look happens at the deadline, not a
poll interval after it), rounded up to whole seconds (rounding down would look early and spend a turn), and
at least 1 s (a 0 s Wait would spin the loop through the execution's history).
"""

from __future__ import annotations

import math


def expired(elapsed: float, deadline_seconds: float) -> bool:
    """The loop has run its whole time: ``elapsed`` seconds since it started, ``deadline_seconds`` allowed."""
    return elapsed >= deadline_seconds


def next_wait(wanted: float, elapsed: float, deadline_seconds: float) -> int:
    """Seconds to Wait before the next look: ``wanted``, cut at the deadline, whole, at least 1."""
    return max(1, min(math.ceil(wanted), math.ceil(deadline_seconds - elapsed)))
