"""A timeline from AWS data only: the execution's audit records and its Step Functions history.

Works against real AWS (and in the local runtime, where boto3 and PynamoDB reach moto). What is exact
and what is reconstructed:

* exact: the execution's start, end and status, and its Wait spans (history timestamps); the time of
  every audit event (when the workflow acted or observed); the boot time the boot signal reported; the
  healthy counts the capacity check measured, at the moment it measured them.
* reconstructed, per target group: *in service* until ``DEREGISTERED``; *draining* until ``DRAINED`` (the
  workflow's drain decision - ELB itself reports ``draining`` until the deregistration delay expires or
  the target is registered again); *rebooting* from ``REBOOT_REQUESTED`` to ``REBOOTED`` (the OS is
  really down only for part of it); *out of service* between those; *initial* from ``REGISTERED`` (or
  ``RESTORED``) until the health check step saw the state ``HEALTHY``/``HEALTH_TIMED_OUT`` record, which
  is up to one poll interval after ELB changed it. The state before the first audited change follows from
  that change: in service before ``DEREGISTERED``; a replay that starts with ``RESTORED`` or ``HEALTHY``
  finds the instance out of service or ``initial`` where the failed run left it.
* reconstructed capacity: the measured count until the instance leaves, that count minus the instance
  while it is out of service (the check's ``healthy_after``), and the measured count again once it is
  healthy. Other instances' changes are not in the audit trail, so they are not shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from nightshift.timeline import history as hist
from nightshift.timeline.model import (
    DRAINING,
    HEALTHY,
    IN_SERVICE,
    INITIAL,
    OUT_OF_SERVICE,
    REBOOTING,
    SOURCE_AUDIT,
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
    "Reconstructed from the audit trail and the execution history (AWS data only): state changes are drawn "
    "when the workflow acted or observed them; ELB keeps reporting 'draining' until the deregistration delay "
    "expires or the target is registered again.",
    "'rebooting' spans the reboot request until the boot step confirmed it; the OS is down for part of it. "
    "Capacity: healthy counts measured by the capacity check, minus this instance while it is out of service; "
    "other instances' changes are not in the audit trail.",
)
# Records written by one execution land within this many seconds of its history's start and end.
SLACK_SECONDS = 5.0
CAPACITY_EVENTS = ("CAPACITY_OK", "SKIPPED_CAPACITY", "SKIPPED_FAIL_OPEN", "DRY_RUN")
TARGET_HEALTH = {"healthy": HEALTHY, "initial": INITIAL, "unhealthy": UNHEALTHY, "draining": DRAINING,
                 "unused": OUT_OF_SERVICE, "unavailable": UNHEALTHY}


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    from steps.store import audit  # a PynamoDB AuditRecord

    return audit.as_dict(record)


def _belongs(records: list[dict[str, Any]], arn: str | None, start: float, end: float) -> list[dict[str, Any]]:
    in_window = [r for r in records if start - SLACK_SECONDS <= float(r["at"]) <= end + SLACK_SECONDS]
    if not arn:
        return in_window
    own = [r for r in in_window if r.get("execution_id") == arn]
    remediations = {r.get("remediation_id") for r in own if r.get("remediation_id")}
    # Records some writer made without the execution id still name the remediation.
    return [r for r in in_window
            if r.get("execution_id") == arn or (not r.get("execution_id") and r.get("remediation_id") in remediations)]


def capacity_checks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-target-group checks of a capacity record (other records use ``checks`` for a count)."""
    if record.get("event") not in CAPACITY_EVENTS:
        return []
    checks = (record.get("details") or {}).get("checks")
    if not isinstance(checks, list):
        return []
    return [c for c in checks if isinstance(c, dict) and c.get("zone") is None and c.get("target_group")]


def _target_groups(records: list[dict[str, Any]]) -> list[str]:
    found: dict[str, None] = {}
    for record in records:
        details = record.get("details") or {}
        for arn in details.get("target_groups") or []:
            found.setdefault(str(arn), None)
        for check in capacity_checks(record):
            found.setdefault(str(check["target_group"]), None)
        for arn in (details.get("states") or {}):
            found.setdefault(str(arn), None)
    return list(found)


def _named(details: Mapping[str, Any], target_group: str) -> bool:
    """Does the record concern this target group? (A record without a list concerns all of them.)"""
    listed = details.get("target_groups")
    return not listed or target_group in listed


# What the first audited change says about the state before it (a replay starts where a failed run left
# the instance); an execution whose first change is DEREGISTERED started with the instance in service.
STATE_BEFORE = {"DRAINED": DRAINING, "REBOOT_REQUESTED": OUT_OF_SERVICE, "REBOOTED": REBOOTING,
                "BOOT_TIMED_OUT": REBOOTING, "REGISTERED": OUT_OF_SERVICE, "RESTORED": OUT_OF_SERVICE,
                "HEALTHY": INITIAL, "HEALTH_TIMED_OUT": INITIAL}


def _state_before(records: list[dict[str, Any]], target_group: str) -> str:
    for record in records:
        event, details = record["event"], record.get("details") or {}
        if event == "DEREGISTERED" and _named(details, target_group):
            return IN_SERVICE
        if event in ("REGISTERED", "RESTORED") and not _named(details, target_group):
            continue
        if event in STATE_BEFORE:
            return STATE_BEFORE[event]
    return IN_SERVICE


def _lane_points(records: list[dict[str, Any]], target_group: str, start: float) -> list[tuple[float, str]]:
    points: list[tuple[float, str]] = [(start, _state_before(records, target_group))]
    for record in records:
        at, event, details = float(record["at"]), record["event"], record.get("details") or {}
        current = points[-1][1]
        new: str | None = None
        if event == "DEREGISTERED" and _named(details, target_group):
            new = DRAINING
        elif event == "DRAINED" and current == DRAINING:
            new = OUT_OF_SERVICE
        elif event == "REBOOT_REQUESTED" and current in (DRAINING, OUT_OF_SERVICE):
            new = REBOOTING
        elif event in ("REBOOTED", "BOOT_TIMED_OUT") and current == REBOOTING:
            new = OUT_OF_SERVICE
        elif event in ("REGISTERED", "RESTORED") and _named(details, target_group):
            new = INITIAL
        elif event in ("HEALTHY", "HEALTH_TIMED_OUT"):
            states = details.get("states") or {}
            if target_group in states:
                new = TARGET_HEALTH.get(str(states[target_group]), UNHEALTHY)
            elif event == "HEALTHY":
                new = HEALTHY
        if new is not None and new != current:
            points.append((max(at, start), new))
    return points


def _capacity(records: list[dict[str, Any]], target_groups: list[str], instance_out: dict[str, list[tuple[float, str]]],
              start: float) -> tuple[CapacitySeries, ...]:
    measured = next((r for r in records if r["event"] in CAPACITY_EVENTS and capacity_checks(r)), None)
    if measured is None:
        return ()
    series = []
    for check in capacity_checks(measured):
        arn = str(check["target_group"])
        if arn not in target_groups or check.get("healthy_now") is None:
            continue
        now, after = int(check["healthy_now"]), int(check.get("healthy_after", check["healthy_now"]))
        steps = [CapacityStep(start, now, False), CapacityStep(float(measured["at"]), now, True)]
        # The instance counts while its lane says in service / healthy, and not otherwise.
        for at, state in instance_out.get(arn, [])[1:]:
            count = now if state in (IN_SERVICE, HEALTHY) else after
            if count != steps[-1].healthy:
                steps.append(CapacityStep(at, count, False))
        required = check.get("required")
        series.append(CapacitySeries(arn, target_group_label(arn), tuple(sorted(steps, key=lambda s: s.time)),
                                     int(required) if required is not None else None))
    return tuple(series)


def instance_of(records: Iterable[Mapping[str, Any]]) -> str | None:
    """The instance an execution's records are about: the one it deregistered or selected, else (a replay
    that only verifies) any it names."""
    records = list(records)
    for event in ("DEREGISTERED", "SELECTED", None):
        for record in records:
            if (event is None or record["event"] == event) and record.get("instance_id"):
                return str(record["instance_id"])
    return None


def audit_markers(records: Iterable[Mapping[str, Any]], start: float, end: float) -> tuple[Marker, ...]:
    """The workflow's key events, labelled with the numbers the audit trail holds."""
    markers: list[Marker] = []
    requested_at: float | None = None
    for record in records:
        at, event, details = float(record["at"]), str(record["event"]), record.get("details") or {}
        reason = str(record.get("reason") or "")
        if event == "DEREGISTERED":
            groups = len(details.get("target_groups") or [])
            markers.append(Marker(at, event, "deregistered",
                                  f"from {groups} target group(s); delay {details.get('delay_seconds', '?')} s"))
        elif event == "DRAINED":
            drained = details.get("drain_seconds")
            after = f" after {float(drained):.0f} s" if drained is not None else ""
            markers.append(Marker(at, event, f"drain ended by {details.get('ended_by', '?')}{after}", reason))
        elif event == "REBOOT_REQUESTED":
            requested_at = at
            markers.append(Marker(at, event, "reboot requested", reason))
        elif event == "REBOOTED":
            boot_time = details.get("boot_time")
            booted = float(boot_time) if boot_time is not None else None
            # The boot time is whole seconds: it may read up to 1 s before the request.
            if details.get("confirmed_by") == "boot_time" and booted is not None and start - 1 <= booted <= end \
                    and (requested_at is None or booted >= requested_at - 1):
                stamp = datetime.fromtimestamp(booted, UTC).strftime("%H:%M:%S")
                markers.append(Marker(booted, "BOOT_TIME", "reboot happened",
                                      f"the kernel's boot time {stamp} UTC (whole seconds), from the boot signal"))
                markers.append(Marker(at, event, "status checks ok", reason))
            else:
                markers.append(Marker(at, event, f"reboot assumed ({details.get('confirmed_by', '?')})", reason))
        elif event == "REGISTERED":
            markers.append(Marker(at, event, "registered", reason))
        elif event == "HEALTHY":
            markers.append(Marker(at, event, "healthy everywhere", reason))
        elif event in ("RESTORED", "FAILED", "BOOT_TIMED_OUT", "HEALTH_TIMED_OUT", "DRY_RUN", "NOTHING_TO_DO") \
                or event.startswith(("SKIPPED_", "REPLAY_")):
            markers.append(Marker(at, event, event.lower().replace("_", " "), reason))
    return tuple(markers)


def model_from_audit(records: Iterable[Any], history: hist.History, execution_arn: str | None = None,
                     ) -> TimelineModel:
    """The timeline of one execution from its history and its group's audit records (any superset:
    records of other executions, or outside the execution's window, are left out)."""
    start, end = hist.window(history)
    arn = execution_arn or hist.execution_id(history)
    mine = sorted(_belongs([_as_dict(r) for r in records], arn, start, end), key=lambda r: float(r["at"]))
    end = max([end, *(float(r["at"]) for r in mine)])
    instance_id = instance_of(mine)
    target_groups = _target_groups(mine) if instance_id else []
    points = {tg: _lane_points(mine, tg, start) for tg in target_groups}
    lanes = tuple(Lane(tg, target_group_label(tg), merge_segments(points[tg], end, exact=False))
                  for tg in target_groups)
    group = next((str(r["group"]) for r in mine if r.get("group")), hist.group(history) or "")
    name = (arn or "").rsplit(":", 1)[-1]
    if any(len(lane.segments) > 1 for lane in lanes):
        title = f"Remediation of {instance_id} in group {group}"
    elif instance_id:
        title = f"Execution {name} in group {group}: {instance_id} selected, never taken out of service"
    else:
        title = f"Execution {name} in group {group}: no instance selected"
    return TimelineModel(
        title=title, source=SOURCE_AUDIT, start=start, end=end, instance_id=instance_id, group=group,
        execution_arn=arn or "", status=hist.status(history), lanes=lanes,
        capacity=_capacity(mine, target_groups, points, start), markers=audit_markers(mine, start, end),
        waits=hist.wait_spans(history), notes=NOTES,
    )
