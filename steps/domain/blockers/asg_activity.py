"""A scaling activity or an instance refresh is in progress in the instance's Auto Scaling group."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts


def asg_busy(spec: BlockerSpec, facts: Facts) -> Block | None:
    if not facts.asg_activity:
        return None
    return Block(Reason.SKIPPED_ASG_ACTIVITY, f"Auto Scaling group {facts.asg_group} is busy: "
                 f"{'; '.join(facts.asg_activity)}", {"asg": facts.asg_group, "activity": facts.asg_activity})


BLOCKER = Blocker("asg_busy", asg_busy)
