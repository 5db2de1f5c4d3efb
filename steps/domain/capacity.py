"""Is there capacity to take one instance out? Pure arithmetic over target health.

docs/design.md, "The remediation workflow", step 3.

Only ``healthy`` counts as healthy: ``initial``, ``unhealthy``, ``unavailable``, ``draining`` and
anything unknown count as not serving. So taking out an instance that is already not ``healthy`` (one chosen
because its target fails its health checks) leaves the healthy count as it is.

A target group whose targets include no ``healthy`` one and at least one ``unhealthy`` is *failing open*: the
load balancer then routes requests to every target, unhealthy ones included ("If a target group contains only
unhealthy registered targets, the load balancer routes requests to all those targets, regardless of their
health status", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html;
Network Load Balancers likewise, https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health.html).
Every unhealthy target is then serving some traffic: a group with such a target group is never touched
(``fail_open``), whatever the floor says (even with ``allow_zero_healthy``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from steps.core.reasons import Reason

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class Check:
    target_group: str
    zone: str | None  # None: the whole target group
    registered: int
    healthy_now: int
    healthy_after: int
    required: int

    @property
    def ok(self) -> bool:
        return self.healthy_after >= self.required

    def sentence(self) -> str:
        where = self.target_group.split("/")[-2] if "/" in self.target_group else self.target_group
        if self.zone:
            where += f" in {self.zone}"
        return (f"{where}: {self.healthy_after} healthy after removal of {self.registered} registered, "
                f"needs {self.required}")


@dataclass(frozen=True)
class CapacityDecision:
    allowed: bool
    checks: tuple[Check, ...]
    reason: str
    fail_open: tuple[str, ...] = ()  # target groups whose load balancer routes to every target

    @property
    def skip_code(self) -> Reason:
        """The audit code of a refusal: the load balancer failing open, else the floor."""
        return Reason.SKIPPED_FAIL_OPEN if self.fail_open else Reason.SKIPPED_CAPACITY

    def numbers(self) -> list[dict[str, Any]]:
        return [{**asdict(c), "ok": c.ok} for c in self.checks]


def required_healthy(registered: int, min_healthy: int, min_healthy_percent: float) -> int:
    return max(min_healthy, math.ceil(registered * min_healthy_percent / 100.0 - 1e-9))


def _check(tg: str, zone: str | None, states: Mapping[str, str], candidate: str, min_healthy: int,
           min_percent: float) -> Check:
    healthy = {i for i, s in states.items() if s == HEALTHY}
    after = len(healthy - {candidate})
    return Check(tg, zone, len(states), len(healthy), after,
                 required_healthy(len(states), min_healthy, min_percent))


def failing_open(states: Mapping[str, Mapping[str, str]]) -> tuple[str, ...]:
    """The target groups with no ``healthy`` target and at least one ``unhealthy`` one (see the module doc)."""
    return tuple(tg for tg, members in states.items()
                 if UNHEALTHY in members.values() and HEALTHY not in members.values())


def healthy_after_removal(states: Mapping[str, Mapping[str, str]], candidate: str, min_healthy: int,
                          min_healthy_percent: float, zones: Mapping[str, str] | None = None,
                          ) -> CapacityDecision:
    """Every target group must keep enough healthy targets without ``candidate``; with ``zones``
    (per-AZ mode) so must the candidate's AZ in every target group (at least one healthy, and the
    percentage of that AZ's registered targets)."""
    checks: list[Check] = []
    for tg, members in states.items():
        checks.append(_check(tg, None, members, candidate, min_healthy, min_healthy_percent))
        if zones is not None and candidate in members:
            zone = zones.get(candidate, "unknown")
            in_zone = {i: s for i, s in members.items() if zones.get(i, "unknown") == zone}
            checks.append(_check(tg, zone, in_zone, candidate, 1, min_healthy_percent))
    failing = [c for c in checks if not c.ok]
    if failing:
        return CapacityDecision(False, tuple(checks), "not enough capacity: " + "; ".join(
            c.sentence() for c in failing))
    return CapacityDecision(True, tuple(checks), "capacity allows removal: " + "; ".join(
        c.sentence() for c in checks))


def refusing_fail_open(decision: CapacityDecision, states: Mapping[str, Mapping[str, str]]) -> CapacityDecision:
    """``decision``, refused when a target group is failing open (the floor's arithmetic cannot see that an
    unhealthy target still serves then). Every step about to take an instance out asks this."""
    open_groups = failing_open(states)
    if not open_groups:
        return decision
    names = ", ".join(tg.split("/")[-2] if "/" in tg else tg for tg in open_groups)
    return CapacityDecision(False, decision.checks, f"load balancer failing open: {names} has no healthy target, "
                            "so it routes requests to every target, unhealthy ones included; nothing is taken out "
                            "until a target is healthy again", open_groups)
