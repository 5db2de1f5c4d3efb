"""The storm breaker: too many remediations, or failed ones, of the group in a window. It trips: the group is
paused (steps/remediate/blockers.py) until a person resumes it."""

from __future__ import annotations

from steps.core.config import BlockerSpec
from steps.core.reasons import Reason
from steps.domain.blockers.base import Block, Blocker, Facts, within
from steps.domain.in_flight import parse_share


def storm(spec: BlockerSpec, facts: Facts) -> Block | None:
    limits = spec.storm
    most = parse_share(limits.max_remediations, "blockers.storm.max_remediations").of(facts.registered)
    now = facts.now.timestamp()
    remediations = len(within(facts.group_remediations_at, now, limits.window_seconds))
    failures = len(within(facts.group_failures_at, now, limits.window_seconds))
    numbers: dict[str, object] = {"remediations": remediations, "failures": failures, "max_remediations": most,
                                  "max_failures": limits.max_failures, "window_seconds": limits.window_seconds}
    if isinstance(limits.max_remediations, str):  # a percentage: of how many registered instances
        numbers.update(max_remediations_setting=limits.max_remediations, registered=facts.registered)
    if remediations >= most:
        return Block(Reason.STORM_BREAKER, f"{remediations} remediations of the group in the last "
                     f"{limits.window_seconds} s (limit {most}): pausing the group", numbers,
                     trips_storm_breaker=True)
    if failures >= limits.max_failures:
        return Block(Reason.STORM_BREAKER, f"{failures} failed remediations of the group in the last "
                     f"{limits.window_seconds} s (limit {limits.max_failures}): pausing the group", numbers,
                     trips_storm_breaker=True)
    return None


def _lookback(spec: BlockerSpec) -> float:
    return float(spec.storm.window_seconds)


BLOCKER = Blocker("storm", storm, group_history_seconds=_lookback)
