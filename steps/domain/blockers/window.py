"""Outside every maintenance window (none declared: always inside)."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts
from steps.domain.window import inside_any


def outside_window(spec: BlockerSpec, facts: Facts) -> Block | None:
    if inside_any(spec.maintenance_windows, facts.now):
        return None
    return Block(Reason.SKIPPED_WINDOW, f"outside the maintenance windows {spec.maintenance_windows} "
                 f"(now {facts.now.strftime('%a %H:%M')} UTC)", {"windows": spec.maintenance_windows})


BLOCKER = Blocker("outside_window", outside_window)
