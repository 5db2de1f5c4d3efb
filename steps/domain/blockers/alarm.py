"""A blocking alarm (a deploy, an incident) is in ALARM."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts


def blocking_alarm(spec: BlockerSpec, facts: Facts) -> Block | None:
    if not facts.alarms_in_alarm:
        return None
    return Block(Reason.SKIPPED_ALARM, f"blocking alarm(s) in ALARM: {', '.join(facts.alarms_in_alarm)}",
                 {"alarms": facts.alarms_in_alarm})


BLOCKER = Blocker("blocking_alarm", blocking_alarm)
