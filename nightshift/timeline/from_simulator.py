"""A timeline from the fleet simulator (local runs): exact states at every change.

The simulator knows what AWS would have reported at any instant (``target_state``), when the OS was
really down (``is_up``), and every target group's healthy count (``capacity_timeline``), so nothing here
is inferred. Markers come from the audit trail when given (the workflow's view: why the drain ended),
else from the simulator's own events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nightshift.timeline import history as hist
from nightshift.timeline.from_audit import audit_markers, capacity_checks
from nightshift.timeline.model import (
    DRAINING,
    HEALTHY,
    IN_SERVICE,
    INITIAL,
    OUT_OF_SERVICE,
    REBOOTING,
    SOURCE_SIMULATOR,
    UNHEALTHY,
    CapacitySeries,
    CapacityStep,
    Lane,
    Marker,
    TimelineModel,
    merge_segments,
    target_group_label,
)

NOTES = (
    "Exact, from the fleet simulator: each target group's state as DescribeTargetHealth would report it at "
    "every change, 'rebooting' while the OS is really down (the reboot starts after EC2's queue delay), "
    "'out of service' for a target that is gone or still reported draining after the reboot.",
)


def _lane_state(raw: str | None, up: bool, rebooted_since_leaving: bool, left_service: bool) -> str:
    if raw == HEALTHY:
        return HEALTHY if left_service else IN_SERVICE
    if raw in (INITIAL, UNHEALTHY):
        return raw
    # draining or gone: the OS state decides what the instance is doing meanwhile.
    if not up:
        return REBOOTING
    if raw == DRAINING and not rebooted_since_leaving:
        return DRAINING
    return OUT_OF_SERVICE


def _change_times(sim: Any, start: float, end: float) -> list[float]:
    times = {start}
    times.update(p.time for p in sim.capacity_timeline() if start <= p.time <= end)
    return sorted(times)


def _lanes(sim: Any, target_groups: Sequence[str], instance_id: str, times: list[float], end: float,
           ) -> tuple[Lane, ...]:
    lanes = []
    for tg in target_groups:
        points: list[tuple[float, str]] = []
        left = rebooted = False
        for at in times:
            raw, up = sim.target_state(instance_id, tg, at), sim.is_up(instance_id, at)
            left = left or raw != HEALTHY
            rebooted = (rebooted or not up) and raw not in (INITIAL, HEALTHY, UNHEALTHY)
            points.append((at, _lane_state(raw, up, rebooted, left)))
        lanes.append(Lane(tg, target_group_label(tg), merge_segments(points, end, exact=True)))
    return tuple(lanes)


def _capacity(sim: Any, target_groups: Sequence[str], start: float, end: float,
              required: Mapping[str, int]) -> tuple[CapacitySeries, ...]:
    timeline = sim.capacity_timeline()
    before = [p for p in timeline if p.time <= start]
    inside = ([before[-1]] if before else []) + [p for p in timeline if start < p.time <= end]
    series = []
    for tg in target_groups:
        steps: list[CapacityStep] = []
        for point in inside:
            count = int(point.healthy.get(tg, 0))
            if not steps or steps[-1].healthy != count:
                steps.append(CapacityStep(max(point.time, start), count, True))
        series.append(CapacitySeries(tg, target_group_label(tg), tuple(steps), required.get(tg)))
    return tuple(series)


def _simulator_markers(sim: Any, lanes: Sequence[Lane], instance_id: str, start: float, end: float,
                       ) -> tuple[Marker, ...]:
    markers: list[Marker] = []
    first: dict[str, float] = {}
    for lane in lanes:
        for segment in lane.segments:
            if segment.start > start:
                first.setdefault(segment.state, segment.start)
                first[segment.state] = min(first[segment.state], segment.start)
    if DRAINING in first:
        markers.append(Marker(first[DRAINING], "DEREGISTERED", "deregistered", "first target group reports draining"))
    markers.extend(Marker(t, "REBOOT_REQUESTED", "reboot requested", "RebootInstances queued a reboot")
                   for t in sim.reboot_requests(instance_id) if start <= t <= end)
    markers.extend(Marker(t, "BOOT_TIME", "reboot happened", "the kernel restarted (boot time changed)")
                   for t in sim.reboots(instance_id) if start <= t <= end)
    if INITIAL in first:
        markers.append(Marker(first[INITIAL], "REGISTERED", "registered", "first target group reports initial"))
    healthy_again = [next((s.start for s in lane.segments if s.state == HEALTHY), None) for lane in lanes]
    if lanes and all(t is not None for t in healthy_again):
        markers.append(Marker(max(t for t in healthy_again if t is not None), "HEALTHY", "healthy everywhere",
                              "every target group reports healthy"))
    return tuple(sorted(markers, key=lambda m: m.time))


def model_from_simulator(sim: Any, built: Any, instance_id: str, start: float, end: float, *,
                         records: Iterable[Mapping[str, Any]] | None = None,
                         history: hist.History | None = None, execution_arn: str = "") -> TimelineModel:
    """Exact states of ``instance_id`` in every target group of ``built`` over [start, end].

    ``records`` (the execution's audit records) label the markers with the workflow's view; ``history``
    adds the execution's Wait spans and status.
    """
    target_groups = list(built.target_group_arns)
    times = _change_times(sim, start, end)
    lanes = _lanes(sim, target_groups, instance_id, times, end)
    mine = sorted((dict(r) for r in records or ()
                   if not execution_arn or r.get("execution_id") in (execution_arn, "", None)),
                  key=lambda r: float(r["at"]))
    mine = [r for r in mine if start - 5 <= float(r["at"]) <= end + 5]
    required: dict[str, int] = {}
    for record in mine:
        for check in capacity_checks(record):
            if check.get("required") is not None:
                required.setdefault(str(check["target_group"]), int(check["required"]))
    markers = audit_markers(mine, start, end) if mine else _simulator_markers(sim, lanes, instance_id, start, end)
    group = str(getattr(built, "name", ""))
    return TimelineModel(
        title=f"Remediation of {instance_id} in group {group}", source=SOURCE_SIMULATOR, start=start, end=end,
        instance_id=instance_id, group=group,
        execution_arn=execution_arn or (hist.execution_id(history) or "" if history else ""),
        status=hist.status(history) if history else "", lanes=lanes,
        capacity=_capacity(sim, target_groups, start, end, required), markers=markers,
        waits=hist.wait_spans(history) if history else (), notes=NOTES,
    )
