"""Blockers: small named checks that keep an instance in service, each with a reason code (kured's
``pkg/blockers`` shape; docs/design.md "One name for one idea").

One file per blocker, each exposing the same interface: a :class:`~steps.domain.blockers.base.Blocker`
named ``BLOCKER`` whose ``decide(spec, facts)`` is pure, reads only the facts it needs from a
:class:`~steps.domain.blockers.base.Facts` (the shared, lazily filled context: steps/remediate/blockers.py reads each
fact through the ports at most once per check, whichever blockers ask for it) and says how far back in the
audit trail it looks. Adding a blocker = one file here + one line in ``BLOCKERS``.
"""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.domain.blockers import (
    alarm,
    asg_activity,
    asg_state,
    cooldown,
    excluded,
    gap,
    paused,
    storm,
    window,
)
from steps.domain.blockers.base import Block, Blocker, FactRecord, Facts

# The registration list, in the order the audit names them.
BLOCKERS: tuple[Blocker, ...] = (paused.BLOCKER, storm.BLOCKER, excluded.BLOCKER, alarm.BLOCKER, window.BLOCKER,
                                 cooldown.BLOCKER, gap.BLOCKER, asg_state.BLOCKER, asg_activity.BLOCKER)

def blocking(spec: BlockerSpec, facts: Facts) -> list[Block]:
    """Every blocker that applies (not only the first), so the audit says all of them."""
    return [block for blocker in BLOCKERS if (block := blocker.decide(spec, facts)) is not None]


def group_history_seconds(spec: BlockerSpec) -> float:
    """How far back the group's audit trail is read: the widest window of the registered blockers."""
    return max(blocker.group_history_seconds(spec) for blocker in BLOCKERS)


def instance_history_seconds(spec: BlockerSpec) -> float:
    """How far back the instance's audit trail is read: the widest window of the registered blockers."""
    return max(blocker.instance_history_seconds(spec) for blocker in BLOCKERS)


__all__ = ["BLOCKERS", "Block", "Blocker", "FactRecord", "Facts", "blocking", "group_history_seconds",
           "instance_history_seconds"]
