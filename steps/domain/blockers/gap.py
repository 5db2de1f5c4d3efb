"""The group was remediated less than `group_min_gap_seconds` ago (0: no minimum gap)."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts, within


def group_gap(spec: BlockerSpec, facts: Facts) -> Block | None:
    if not spec.group_min_gap_seconds:
        return None
    recent = within(facts.group_remediations_at, facts.now.timestamp(), spec.group_min_gap_seconds)
    if not recent:
        return None
    ago = facts.now.timestamp() - max(recent)
    return Block(Reason.SKIPPED_COOLDOWN, f"the group was remediated {ago:.0f} s ago; minimum gap is "
                 f"{spec.group_min_gap_seconds} s", {"group_min_gap_seconds": spec.group_min_gap_seconds})


def _lookback(spec: BlockerSpec) -> float:
    return float(spec.group_min_gap_seconds)


BLOCKER = Blocker("group_gap", group_gap, group_history_seconds=_lookback)
