"""The group is paused (by an operator, or by the storm breaker): nothing leaves service until resumed."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts


def group_paused(spec: BlockerSpec, facts: Facts) -> Block | None:
    if facts.paused_reason is None:
        return None
    return Block(Reason.SKIPPED_PAUSED, f"the group is paused: {facts.paused_reason}; `nightshift resume` lifts it")


BLOCKER = Blocker("group_paused", group_paused)
