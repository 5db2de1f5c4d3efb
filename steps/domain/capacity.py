"""Is there capacity to take one instance out? Pure arithmetic over target health.

docs/design.md, "The remediation workflow", step 3.

Only ``healthy`` counts as healthy: ``initial``, ``unhealthy``, ``unavailable``, ``draining`` and
anything unknown count as not serving. So taking out an instance that is already not ``healthy`` (one chosen
because its target fails its health checks) leaves the healthy count as it is.

A load balancer *fails open* ("routing failover") in a target group, or in one Availability Zone of it, when the
healthy targets there fall below the target group's `unhealthy_state_routing` threshold: it then "sends traffic to all
targets available to the load balancer node, including unhealthy targets"
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health.html, and the same page for
Network Load Balancers, https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health.html;
docs/aws-behaviour.md, "Fail open"). The threshold is `minimum_healthy_targets.count` (default 1) and, when set,
`minimum_healthy_targets.percentage` of the registered targets; either one breached is enough. With cross-zone load
balancing off for the target group "the thresholds apply to the number of targets in each enabled zone separately",
with it on to all the targets together. The defaults give the rule "no healthy target and an unhealthy one":
"If a target group contains only unhealthy registered targets, the load balancer routes requests to all those
targets, regardless of their health status"
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
Every unhealthy target is then serving some traffic: a group with a target group (or zone) failing open now, or
that would fail open without the candidate, is never touched (``fail_open``), whatever the floor says (even with
``allow_zero_healthy``). A scope fails open only while it has an ``unhealthy`` target (the routing failover is
what sends it traffic). DNS failover (`target_group_health.dns_failover.*`) does not make a zone safe: connections
sent to that zone's node still reach every target there, and clients keep the node's address for the DNS TTL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from steps.core.reasons import Reason

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
# `unhealthy`, or an NLB's `unhealthy.draining`, which turns healthy if the target recovers, "otherwise, it will
# flip the target status to unhealthy" (docs/aws-behaviour.md, "Fail open"): without the candidate, either one
# leaves a scope failing open.
BECOMING_UNHEALTHY = frozenset({UNHEALTHY, "unhealthy.draining"})


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


@dataclass(frozen=True)
class RoutingFailover:
    """One target group's documented fail-open rule, from DescribeTargetGroupAttributes (see the module doc)."""

    per_zone: bool = False  # cross-zone load balancing off for this target group: each AZ on its own
    min_count: int = 1  # target_group_health.unhealthy_state_routing.minimum_healthy_targets.count
    min_percent: int | None = None  # ...minimum_healthy_targets.percentage; None: "off"

    def breached(self, healthy: int, registered: int) -> bool:
        """Fewer healthy targets than the count, or than the percentage of the registered ones."""
        if healthy < self.min_count:
            return True
        return self.min_percent is not None and healthy * 100 < self.min_percent * registered

    def threshold(self) -> str:
        return f"{self.min_count}" + (f" or {self.min_percent}%" if self.min_percent is not None else "")


CROSS_ZONE = "load_balancing.cross_zone.enabled"
ROUTING_COUNT = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count"
ROUTING_PERCENT = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage"
# An Application Load Balancer's target groups (their protocol): cross-zone is always on at that load balancer.
ALB_PROTOCOLS = frozenset({"HTTP", "HTTPS"})


def cross_zone_setting(attributes: Mapping[str, str]) -> bool | None:
    """The target group's own cross-zone setting; None: ``use_load_balancer_configuration`` (the default)."""
    value = attributes.get(CROSS_ZONE, "use_load_balancer_configuration").lower()
    return {"true": True, "false": False}.get(value)


def routing_failover(attributes: Mapping[str, str], load_balancer_cross_zone: bool | None) -> RoutingFailover:
    """The rule from DescribeTargetGroupAttributes; ``load_balancer_cross_zone`` decides when the target group
    uses its load balancer's setting (None there: unknown, read as off, the stricter per-zone rule)."""
    own = cross_zone_setting(attributes)
    cross_zone = own if own is not None else bool(load_balancer_cross_zone)
    count = attributes.get(ROUTING_COUNT, "1")
    percent = attributes.get(ROUTING_PERCENT, "off")
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"target group attribute {ROUTING_COUNT} is {count!r}: AWS documents 1 to the number "
                         "of targets")
    if percent.lower() != "off" and not (percent.isdigit() and 1 <= int(percent) <= 100):
        raise ValueError(f"target group attribute {ROUTING_PERCENT} is {percent!r}: AWS documents off or 1-100")
    return RoutingFailover(per_zone=not cross_zone, min_count=int(count),
                           min_percent=None if percent.lower() == "off" else int(percent))


DEFAULT_ROUTING = RoutingFailover()  # AWS's defaults: count 1, percentage off, cross-zone on (an ALB's)


@dataclass(frozen=True)
class FailOpen:
    target_group: str
    zone: str | None  # None: the whole target group (cross-zone on)
    healthy: int
    registered: int
    threshold: str
    after_removal: bool  # False: failing open already; True: would fail open without the candidate

    def sentence(self) -> str:
        where = self.target_group.split("/")[-2] if "/" in self.target_group else self.target_group
        if self.zone:
            where += f" in {self.zone}"
        when = "would have" if self.after_removal else "has"
        after = " without the candidate" if self.after_removal else ""
        return (f"{where} {when} {self.healthy} healthy of {self.registered} registered{after}, below its "
                f"unhealthy_state_routing minimum of {self.threshold}")


def _scopes(members: Mapping[str, str], rule: RoutingFailover, zones: Mapping[str, str] | None,
            ) -> list[tuple[str | None, dict[str, str]]]:
    if not rule.per_zone:
        return [(None, dict(members))]
    by_zone: dict[str | None, dict[str, str]] = {}
    for target, state in members.items():
        # A target whose zone is not known is put in a zone of its own: never pooled with a healthy zone.
        zone = (zones or {}).get(target) or f"unknown zone of {target}"
        by_zone.setdefault(zone, {})[target] = state
    return sorted(by_zone.items(), key=lambda item: str(item[0]))


def failing_open(states: Mapping[str, Mapping[str, str]], candidate: str | None = None,
                 rules: Mapping[str, RoutingFailover] | None = None, zones: Mapping[str, str] | None = None,
                 ) -> tuple[FailOpen, ...]:
    """Every target group, or zone of one when its cross-zone load balancing is off, whose load balancer fails
    open now, or would without ``candidate`` (see the module doc). ``rules``: each target group's rule
    (AWS's defaults when absent); ``zones``: instance id -> AZ, needed for the per-zone rules."""
    found: list[FailOpen] = []
    for tg, members in states.items():
        rule = (rules or {}).get(tg, DEFAULT_ROUTING)
        for zone, scope in _scopes(members, rule, zones):
            healthy = [i for i, s in scope.items() if s == HEALTHY]
            registered = len(scope)
            if UNHEALTHY in scope.values() and rule.breached(len(healthy), registered):
                found.append(FailOpen(tg, zone, len(healthy), registered, rule.threshold(), False))
                continue
            if candidate is None or candidate not in scope:
                continue
            # Without the candidate: it stops being healthy, and is still counted among the registered (a
            # deregistered target stays listed, draining, for the whole delay), the stricter of the two readings.
            others_unhealthy = any(s in BECOMING_UNHEALTHY for i, s in scope.items() if i != candidate)
            after = len([i for i in healthy if i != candidate])
            if others_unhealthy and rule.breached(after, registered):
                found.append(FailOpen(tg, zone, after, registered, rule.threshold(), True))
    return tuple(found)


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


def refusing_fail_open(decision: CapacityDecision, states: Mapping[str, Mapping[str, str]],
                       candidate: str | None = None, rules: Mapping[str, RoutingFailover] | None = None,
                       zones: Mapping[str, str] | None = None) -> CapacityDecision:
    """``decision``, refused when a target group (or one of its zones, cross-zone off) is failing open, or would
    be without ``candidate`` (the floor's arithmetic cannot see that an unhealthy target still serves then).
    Every step about to take an instance out asks this."""
    found = failing_open(states, candidate, rules, zones)
    if not found:
        return decision
    groups = tuple(dict.fromkeys(f.target_group for f in found))
    return CapacityDecision(False, decision.checks, "load balancer failing open: " + "; ".join(
        f.sentence() for f in found) + ", so it routes requests to every target there, unhealthy ones included; "
        "nothing is taken out until enough targets are healthy again", groups)
