"""Which instances are already failing, since when, and which one comes first? Pure.

A group selects by one or more criteria (``select`` in the groups declaration; ``metric`` alone by default).
Besides the metric (steps/domain/selection.py), three find instances that are already failing, each with its
own hysteresis ``for_seconds`` (T) and reason code:

* ``status_check``: EC2 says the instance's *system* or *instance* status is ``impaired`` (DescribeInstanceStatus);
  ``Details[].ImpairedSince`` says since when ("The time when a status check failed",
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceStatusDetails.html). Without an
  ImpairedSince the failure counts from now (not yet T). A failed *system* check is the host's problem, which a
  reboot does not fix; stopping and starting an EBS-backed instance moves it to a new host
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-system-instance-status-check.html): such an
  instance goes straight to the ``stop_start`` rung (``first_rung``).
* ``unhealthy_target``: the target is ``unhealthy`` in one of the group's target groups *because it fails its
  health checks*: reason ``Target.FailedHealthChecks``, ``Target.Timeout`` or ``Target.ResponseCodeMismatch``
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html). Not ``initial``
  (``Elb.RegistrationInProgress`` / ``Elb.InitialHealthChecking``), not ``draining``/``unused``, not
  ``Elb.InternalError`` (the load balancer's problem, not the instance's). DescribeTargetHealth does not say
  since when, so the select step remembers when it first saw each instance failing and when it last saw it
  failing (steps/store/first_seen.py); T counts from that first sighting, a lower bound of the real duration
  (docs/design.md). A first sighting carries over to the next selection only if that selection comes before
  the target could have recovered and failed again unobserved (``recover_and_fail_seconds``); otherwise it
  starts again at now. So the execution that sees a target failing keeps looking itself (``watch``: the next
  look within half that gap) until it is due, recovers, or a deadline passes.
* ``silent``: running and registered (not only ``initial``), but no datapoint of the group's metric for at least
  T while at least one peer reported in that time. When no instance reports at all, nobody is silent: that is
  the group's NO_METRIC_DATA, as before. Silence counts from the end of the last datapoint's period, and never
  from before the instance's DescribeInstances ``LaunchTime``: "The time that the instance was last launched. To
  determine the time that instance was first launched, see the attachment time for the primary network
  interface" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html): a start after a stop
  launches it again and renews it (an instance is ``pending`` "when it is launched or when it is started after
  being in the stopped state", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html;
  docs/aws-behaviour.md, "LaunchTime"). An instance just started
  again, or just launched, has no readable datapoint yet (its agent boots, then a period and the ingestion
  delay pass), but it has not been running for T: it is not silent yet. Without a LaunchTime (EC2 did not
  describe it) its silence counts from the readable edge: never due, watched.

  A reboot does not renew LaunchTime (an OS reboot: the instance stays ``running`` on its host,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-reboot.html), so a rebooted instance's
  silence still counts from its last datapoint before the reboot. That is right, and safe for our own
  reboots: a reboot takes down only the instance rebooted, never a peer (peers keep reporting); the rebooted
  one is ``initial`` again once re-registered until its health checks pass (not eligible), and its gap is the
  real outage (shutdown, a hard reboot of a hung OS, the boot) plus at most one period. T should exceed a boot
  plus one period (it is at least one period, config.py) so a clean reboot never reaches it; an outage that
  does reach T was real silence, and the instance cooldown (SKIPPED_COOLDOWN) refuses a second reboot of the
  instance we rebooted.

An already-failing instance comes before a merely leaking one, and among failing ones: a failed status check
(system before instance), then a failing target, then silence; within one criterion the longest failing first,
then the instance id (deterministic, so a replay picks the same one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from steps.core.reasons import Reason

Series = Sequence[tuple[float, float]]

# TargetHealth reason codes of a target whose own health checks fail (unhealthy state).
HEALTH_CHECK_FAILURES = frozenset({"Target.FailedHealthChecks", "Target.Timeout", "Target.ResponseCodeMismatch"})
UNHEALTHY = "unhealthy"
IMPAIRED = "impaired"
STOP_START = "stop_start"
# Failing before leaking; the metric criterion is ranked after all of these (selection.py).
PRIORITY = ("status_check", "unhealthy_target", "silent")
CODES = {"status_check": Reason.STATUS_CHECK_FAILED, "unhealthy_target": Reason.UNHEALTHY_TARGET,
         "silent": Reason.SILENT_INSTANCE}
# The numbers the audit's ``watching`` shows besides seconds and for_seconds: for unhealthy_target, the first
# sighting, the previous one, the longest gap that carries it, and whether it was restarted because of a gap.
WATCHED = {"unhealthy_target": ("first_seen", "last_seen", "max_gap_seconds", "restarted")}


@dataclass(frozen=True)
class TargetHealth:
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class StatusChecks:
    """One instance's DescribeInstanceStatus answer: each check's status and its ImpairedSince (epoch seconds)."""

    instance: str = "ok"
    instance_since: float | None = None
    system: str = "ok"
    system_since: float | None = None


@dataclass(frozen=True)
class Failing:
    """An instance failing one criterion: since when, for how long, and whether that is long enough yet."""

    instance_id: str
    criterion: str
    since: float
    seconds: float
    for_seconds: int
    sentence: str
    first_rung: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def due(self) -> bool:
        return self.seconds >= self.for_seconds

    @property
    def code(self) -> Reason:
        return CODES[self.criterion]

    def details(self) -> dict[str, Any]:
        """What the SELECTED audit (and the criterion's own record) carries."""
        out: dict[str, Any] = {"criterion": self.criterion, "since": self.since, "seconds": round(self.seconds, 1),
                               "for_seconds": self.for_seconds, **self.numbers}
        if self.first_rung:
            out["first_rung"] = self.first_rung
        return out


def failing_health_checks(health: Mapping[str, Mapping[str, TargetHealth]]) -> dict[str, dict[str, str]]:
    """instance -> {target group -> reason code} of every target unhealthy because it fails its health checks."""
    found: dict[str, dict[str, str]] = {}
    for tg, members in health.items():
        for instance_id, h in members.items():
            if h.state == UNHEALTHY and h.reason in HEALTH_CHECK_FAILURES:
                found.setdefault(instance_id, {})[tg] = str(h.reason)
    return found


@dataclass(frozen=True)
class Sighting:
    """When an instance was first seen failing its health checks (this failure) and last seen so. ``previous``
    and ``restarted`` describe this selection's decision, for the audit; only ``first`` and ``last`` are kept."""

    first: float
    last: float
    previous: float | None = None  # the last sighting remembered before this selection, if any
    restarted: bool = False  # a remembered sighting was dropped: too long unobserved to carry


def recover_and_fail_seconds(interval_seconds: float, unhealthy_threshold: int) -> float:
    """The shortest time in which a target seen ``unhealthy`` can turn healthy and unhealthy again unobserved.

    ELBv2: "If the health checks exceed UnhealthyThresholdCount consecutive failures, the load balancer takes
    the target out of service. When the health checks exceed HealthyThresholdCount consecutive successes, the
    load balancer puts the target back in service", one check every HealthCheckIntervalSeconds
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
    The target may already have passed HealthyThresholdCount - 1 checks when a selection sees it unhealthy, so
    one more passed check (right after that look) makes it healthy, and UnhealthyThresholdCount failed checks,
    one interval apart, make it unhealthy again: UnhealthyThresholdCount x interval after the look at the
    soonest. HealthyThresholdCount does not shorten or lengthen that: it is not part of the bound."""
    return float(unhealthy_threshold) * float(interval_seconds)


def max_gaps(health: Mapping[str, Mapping[str, TargetHealth]], cycles: Mapping[str, float]) -> dict[str, float]:
    """instance -> the longest time between two sightings across which its first sighting may carry: the
    smallest ``recover_and_fail_seconds`` of the target groups it is registered in (conservative); 0 (never
    carry) for a target group whose health check settings are unknown."""
    gaps: dict[str, float] = {}
    for tg, members in health.items():
        for instance_id in members:
            cycle = cycles.get(tg, 0.0)
            gaps[instance_id] = min(gaps.get(instance_id, cycle), cycle)
    return gaps


def first_seen(failing: Iterable[str], remembered: Mapping[str, Sighting], now: float,
               max_gap: Mapping[str, float]) -> dict[str, Sighting]:
    """When each failing instance was first seen failing, and now as its last sighting. A remembered first
    sighting carries over only if the instance was last seen failing less than its ``max_gap`` ago (no
    recover-and-fail cycle fits in between unobserved), and not after ``now`` (a garbled item, or a writer whose
    clock ran ahead: never trusted to carry); otherwise, and for a new one, the first sighting is now.
    Instances no longer failing are dropped (a target that recovered starts over the next time it fails)."""
    seen: dict[str, Sighting] = {}
    for instance_id in sorted(set(failing)):
        before = remembered.get(instance_id)
        if before is None:
            seen[instance_id] = Sighting(now, now)
        elif 0.0 <= now - before.last < max_gap.get(instance_id, 0.0):  # a last sighting after now: untrusted
            seen[instance_id] = Sighting(min(before.first, now), now, previous=before.last)
        else:
            seen[instance_id] = Sighting(now, now, previous=before.last, restarted=True)
    return seen


def unhealthy_targets(health: Mapping[str, Mapping[str, TargetHealth]], seen: Mapping[str, Sighting], now: float,
                      for_seconds: int, max_gap: Mapping[str, float] | None = None) -> list[Failing]:
    out = []
    for instance_id, reasons in sorted(failing_health_checks(health).items()):
        sighting = seen.get(instance_id, Sighting(now, now))
        since = sighting.first
        names = ", ".join(f"{tg.split('/')[-2] if '/' in tg else tg} ({code})" for tg, code in sorted(reasons.items()))
        restarted = (f"; seen failing {now - sighting.previous:.0f} s before, too long ago to carry (at most "
                     f"{(max_gap or {}).get(instance_id, 0.0):.0f} s): counted from now"
                     if sighting.restarted and sighting.previous is not None else "")
        out.append(Failing(instance_id, "unhealthy_target", since, now - since, for_seconds,
                           f"{instance_id} fails its health checks in {names}, first seen {now - since:.0f} s ago "
                           f"(needs {for_seconds} s){restarted}",
                           numbers={"target_groups": dict(sorted(reasons.items())), "first_seen": since,
                                    "last_seen": sighting.previous,
                                    "max_gap_seconds": (max_gap or {}).get(instance_id),
                                    "restarted": sighting.restarted}))
    return out


def impaired(statuses: Mapping[str, StatusChecks], now: float, for_seconds: int) -> list[Failing]:
    """Instances whose system or instance status is impaired; a system impairment asks for stop/start first."""
    out = []
    for instance_id, s in sorted(statuses.items()):
        if s.system == IMPAIRED:
            check, since, rung = "system", s.system_since, STOP_START
        elif s.instance == IMPAIRED:
            check, since, rung = "instance", s.instance_since, None
        else:
            continue
        start = now if since is None else min(since, now)
        out.append(Failing(instance_id, "status_check", start, now - start, for_seconds,
                           f"{instance_id}'s {check} status check is impaired"
                           + (f" since {now - start:.0f} s ago" if since is not None else " (no ImpairedSince)")
                           + f" (needs {for_seconds} s)"
                           + ("; a reboot does not move it off its host: stop/start first" if rung else ""),
                           first_rung=rung,
                           numbers={"check": check, "impaired_since": since, "instance_status": s.instance,
                                    "system_status": s.system}))
    return out


def quiet(series: Mapping[str, Series], eligible: Iterable[str], end: float, for_seconds: int) -> list[str]:
    """The eligible instances with no datapoint in [end - T, end) while at least one instance has one there:
    the ones whose LaunchTime the silent criterion needs (none when everyone reports, or nobody does)."""
    recent = end - for_seconds
    reporting = {i for i, s in series.items() if any(t >= recent for t, _ in s)}
    if not reporting:
        return []  # nobody reports: the group's NO_METRIC_DATA, never one instance's silence
    return sorted(set(eligible) - reporting)


def silent(series: Mapping[str, Series], eligible: Iterable[str], window_start: float, end: float, period: int,
           for_seconds: int, *, launched: Mapping[str, float]) -> list[Failing]:
    """Eligible instances (running, registered, not only ``initial``) with no datapoint in [end - T, end) while
    at least one instance has one there. ``series`` covers [window_start, end); an instance with no datapoint in
    it at all has been silent at least since ``window_start``. ``launched``: each instance's LaunchTime (epoch
    seconds); silence never counts from before it, so it is at most ``end - LaunchTime`` (``end``, the readable
    edge, is never after now). An instance missing from ``launched`` counts from ``end``: not due."""
    recent = end - for_seconds
    reporting = sum(1 for s in series.values() if any(t >= recent for t, _ in s))
    out = []
    for instance_id in quiet(series, eligible, end, for_seconds):
        points = series.get(instance_id, ())
        last = max((t for t, _ in points), default=None)
        launch = launched.get(instance_id)
        since = max(last + period if last is not None else window_start, end if launch is None else launch)
        since = min(since, end)  # launched after the readable edge: silent for 0 s, not for a negative time
        out.append(Failing(instance_id, "silent", since, end - since, for_seconds,
                           f"{instance_id} has reported no datapoint for {end - since:.0f} s while "
                           f"{reporting} peer(s) report (needs {for_seconds} s"
                           + ("; EC2 gives no LaunchTime" if launch is None else
                              f"; last launched {end - launch:.0f} s before the readable edge") + ")",
                           numbers={"last_datapoint": last, "launch_time": launch, "peers_reporting": reporting,
                                    "readable_until": end}))
    return out


def _rank(f: Failing) -> tuple[int, int, float, str]:
    return (PRIORITY.index(f.criterion), 0 if f.first_rung else 1, f.since, f.instance_id)


def ordered(found: Iterable[Failing]) -> list[Failing]:
    """The failing instances that failed long enough, first to be healed first."""
    return sorted((f for f in found if f.due), key=_rank)


def watching(found: Iterable[Failing]) -> list[dict[str, Any]]:
    """The failing instances not failing long enough yet: for the audit's numbers (hysteresis at work)."""
    return [{"instance_id": f.instance_id, "criterion": f.criterion, "seconds": round(f.seconds, 1),
             "for_seconds": f.for_seconds, **{k: f.numbers[k] for k in WATCHED.get(f.criterion, ()) if k in f.numbers}}
            for f in sorted(found, key=_rank) if not f.due]


@dataclass(frozen=True)
class Watch:
    """The selection's answer while it watches ``unhealthy_target`` sightings: look again in ``seconds``, and
    no later than ``until`` (the execution's deadline, fixed at its first watch); ``instances`` for the audit."""

    seconds: int
    until: float
    instances: list[dict[str, Any]]


def watch(found: Iterable[Failing], now: float, until: float | None = None) -> Watch | None:
    """Whether the execution should keep watching instead of ending NOTHING_TO_DO, and how long its next Wait is.

    Only ``unhealthy_target`` needs this. DescribeTargetHealth tells only the state now, and a first sighting
    carries to the next look only if that look comes less than its ``max_gap_seconds`` after this one
    (``first_seen``); looks started by the sweep, alarms and people rarely come that often, so the execution that
    saw the target failing looks again itself. ``status_check`` has ImpairedSince and ``silent`` datapoint
    timestamps and LaunchTime: a later selection sees how long they have failed without having watched.

    The next look comes after half the smallest max gap of the watched instances (at least 1 s; strictly less
    than every gap, so a late Wait or a slow Lambda still lands inside it), no later than the earliest watched
    one becomes due, and never past ``until``. ``until`` (given: carried from the first watch) is at most the
    latest watched instance's first sighting + for_seconds + its max gap. None: nothing to watch (no
    ``unhealthy_target`` sighting not yet due with a known gap of more than 1 s), or the deadline has passed."""
    watched = [f for f in found if f.criterion == "unhealthy_target" and not f.due
               and float(f.numbers.get("max_gap_seconds") or 0.0) > 1.0]
    if not watched:
        return None
    gaps = {f.instance_id: float(f.numbers["max_gap_seconds"]) for f in watched}
    deadline = until if until is not None else max(f.since + f.for_seconds + gaps[f.instance_id] for f in watched)
    if deadline - now < 1.0:
        return None
    smallest = min(gaps.values())
    seconds = max(1, int(smallest // 2))
    due_in = min(f.since + f.for_seconds - now for f in watched)
    seconds = max(1, min(seconds, math.ceil(due_in), int(deadline - now)))
    instances = [{"instance_id": f.instance_id, "first_seen": f.since, "for_seconds": f.for_seconds,
                  "due_at": f.since + f.for_seconds, "max_gap_seconds": gaps[f.instance_id]}
                 for f in sorted(watched, key=_rank)]
    return Watch(seconds, deadline, instances)
