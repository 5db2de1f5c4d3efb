"""The instance is not InService in its Auto Scaling group (Standby, Pending, Terminating...): an operator or
the ASG is already handling it."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts


def asg_not_in_service(spec: BlockerSpec, facts: Facts) -> Block | None:
    if facts.asg_lifecycle in (None, "InService"):
        return None
    return Block(Reason.SKIPPED_ASG_STATE, f"the instance is {facts.asg_lifecycle} in Auto Scaling group "
                 f"{facts.asg_group}: someone (an operator or the ASG) is already handling it",
                 {"asg": facts.asg_group, "lifecycle_state": facts.asg_lifecycle})


BLOCKER = Blocker("asg_not_in_service", asg_not_in_service)
