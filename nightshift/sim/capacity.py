"""The fleet's serving capacity at every instant something changed, for "never below minimum" assertions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.target_health import HEALTHY, HealthCheck


@dataclass(frozen=True)
class CapacityPoint:
    """The fleet from ``time`` until the next point."""

    time: float
    healthy: Mapping[str, int]  # target group ARN -> healthy targets
    # Instances that exist and are not healthy in at least one target group (deregistered, draining,
    # initial, unhealthy, or launched and not registered yet).
    out_of_service: frozenset[str]
    # Instances whose OS is not serving (shutting down, hung, stopped or booting), whatever the targets say.
    down: frozenset[str]


_Event = tuple[float, str, str | None, str | None]  # (time, instance, target group or None for the OS, state)
_OS_DOWN = "down"
_OS_UP = "up"
# An instance an Auto Scaling group launched after build() joins the fleet; a terminated one leaves it.
_JOIN = "join"
_LEAVE = "leave"


def _collect(instances: Sequence[SimulatedInstance], checks: Mapping[str, HealthCheck], start: float,
             now: float) -> tuple[dict[tuple[str, str], str | None], set[str], list[_Event]]:
    """Every target's state as built at ``start`` (every OS up), the instances that exist then, and the
    changes in [start, now]."""
    states: dict[tuple[str, str], str | None] = {}
    present: set[str] = set()
    events: list[_Event] = []
    for instance in instances:
        iid = instance.instance_id
        power = instance.power
        joined, left = power.launched_at, power.terminated_at()
        # The first point is the fleet as built: an instance launched at that very instant joins after it.
        if (joined is None or joined < start) and (left is None or left > start):
            present.add(iid)
        if joined is not None and start <= joined <= now:
            events.append((joined, iid, None, _JOIN))
        failures, version = instance.failures()
        for arn, check in checks.items():
            record = instance.targets.get(arn)
            if record is None:
                states[(iid, arn)] = None
                continue
            _, phases = record.phases(failures, version, check)
            # The first phase is the fleet as built, unless the target was first registered later.
            built = phases[0].at <= start
            states[(iid, arn)] = phases[0].state if built else None
            events.extend((p.at, iid, arn, p.state) for p in phases[1 if built else 0:] if start <= p.at <= now)
        for stops, up in power.down_intervals():
            if start <= stops <= now:
                events.append((stops, iid, None, _OS_DOWN))
            if start <= up <= now:
                events.append((up, iid, None, _OS_UP))
        if left is not None and start < left <= now:
            events.append((left, iid, None, _LEAVE))
    # One instance's events were appended in order; a stable sort keeps same-instant ones in that order.
    events.sort(key=lambda e: e[0])
    return states, present, events


def capacity_timeline(instances: Sequence[SimulatedInstance], checks: Mapping[str, HealthCheck],
                      start: float, now: float) -> list[CapacityPoint]:
    """One point for the fleet as built at ``start``, then one per distinct instant in [start, now] where a
    target's state, an OS's availability or the fleet's membership changed; same-instant changes are merged
    into one point, so zero-length states never show."""
    states, present, events = _collect(instances, checks, start, now)
    down: set[str] = set()
    healthy = dict.fromkeys(checks, 0)
    not_healthy: dict[str, int] = {}
    for (iid, arn), state in states.items():
        if state == HEALTHY:
            healthy[arn] += 1
        else:
            not_healthy[iid] = not_healthy.get(iid, 0) + 1

    def point(at: float) -> CapacityPoint:
        return CapacityPoint(at, dict(healthy), frozenset(i for i, n in not_healthy.items() if n and i in present),
                             frozenset(down & present))

    timeline = [point(start)]
    for index, (at, iid, target_group, state) in enumerate(events):
        if target_group is None:
            if state == _OS_DOWN:
                down.add(iid)
            elif state == _OS_UP:
                down.discard(iid)
            elif state == _JOIN:
                present.add(iid)
            else:
                present.discard(iid)
        else:
            was_healthy = states[(iid, target_group)] == HEALTHY
            states[(iid, target_group)] = state
            if was_healthy != (state == HEALTHY):
                delta = 1 if state == HEALTHY else -1
                healthy[target_group] += delta
                not_healthy[iid] = not_healthy.get(iid, 0) - delta
        if index + 1 == len(events) or events[index + 1][0] != at:
            timeline.append(point(at))
    return timeline
