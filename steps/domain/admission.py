"""May the selected instance leave service, and what happens to it then? Pure.

The check-capacity step's verdict from what it gathered: the floor (``capacity.CapacityDecision``), the
blockers that apply (``blockers.Block``) and the instance's reboots in the last 24 h. Blockers come first: the
first one found names the verdict. An instance rebooted ``max_reboots_per_day`` times already is drained and
sent to the escalation ladder instead of being rebooted again (a reboot is not curing it), when the group has
a ladder. docs/design.md, "The remediation workflow", step 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from steps.core.reasons import Reason
from steps.domain.blockers.base import Block
from steps.domain.capacity import CapacityDecision

REBOOT = "reboot"
ESCALATE = "escalate"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    code: Reason  # the first blocker's code, else CAPACITY_OK or SKIPPED_CAPACITY
    reason: str  # every blocker's reason, then the floor's
    plan: str  # REBOOT or ESCALATE
    reboots_today: int
    max_reboots_per_day: int
    first_rung: str | None = None

    def dry_run_sentence(self) -> str:
        """What a real run would do."""
        if not self.allowed:
            return f"would skip ({self.code})"
        if self.plan == REBOOT:
            return "would deregister, drain, reboot and re-register"
        if self.first_rung is not None and self.reboots_today < self.max_reboots_per_day:
            return f"would deregister, drain and go straight to the {self.first_rung} rung (no reboot)"
        return (f"would deregister, drain and escalate ({self.reboots_today} reboots in 24 h, "
                f"limit {self.max_reboots_per_day})")


def plan(reboots_today: int, max_reboots_per_day: int, has_ladder: bool, first_rung: str | None = None) -> str:
    """Reboot, or drain and go to the ladder: after too many reboots today, or when the selection says the
    first action must not be a reboot (``first_rung``: a failed system status check). Without a ladder the
    reboot is all there is."""
    if not has_ladder:
        return REBOOT
    return ESCALATE if reboots_today >= max_reboots_per_day or first_rung is not None else REBOOT


def decide(capacity: CapacityDecision, found: Sequence[Block], reboots_today: int, max_reboots_per_day: int,
           has_ladder: bool, first_rung: str | None = None) -> Verdict:
    allowed = capacity.allowed and not found
    code = found[0].code if found else (Reason.CAPACITY_OK if capacity.allowed else capacity.skip_code)
    reason = "; ".join([b.reason for b in found] + [capacity.reason])
    chosen = plan(reboots_today, max_reboots_per_day, has_ladder, first_rung)
    return Verdict(allowed, code, reason, chosen, reboots_today, max_reboots_per_day,
                   first_rung if chosen == ESCALATE else None)
