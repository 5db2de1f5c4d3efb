"""Is there capacity to take one instance out? Pure arithmetic over target health.

docs/design.md, "The remediation workflow", step 3.

Only ``healthy`` counts as healthy: ``initial``, ``unhealthy``, ``unavailable``, ``draining`` and
anything unknown count as not serving.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

HEALTHY = "healthy"


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
