"""What ``DescribeTargetHealth`` says about one target, at any instant, from recorded events.

AWS documents the states this follows (ELB user guide, "Target health status"):
- a registered target is ``initial`` until it passes HealthyThresholdCount consecutive checks;
- a target failing UnhealthyThresholdCount consecutive checks is ``unhealthy``;
- a deregistered target is ``draining`` for the whole deregistration delay (even with nothing in flight),
  then it is gone: absent from the list, ``unused`` when asked for by id;
- registering a target that is still draining starts it over as ``initial``.

Checks run every HealthCheckIntervalSeconds; the simulator treats a pass or fail streak as continuous,
so a target turns healthy ``threshold * interval`` after it starts passing and unhealthy
``unhealthy_threshold * interval`` after it starts failing. Everything here is pure and deterministic:
the whole future of a target follows from the events recorded so far.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DRAINING = "draining"
UNUSED = "unused"

# Reason codes and descriptions exactly as ELBv2 returns them.
REASONS: dict[str, tuple[str, str]] = {
    INITIAL: ("Elb.RegistrationInProgress", "Target registration is in progress"),
    DRAINING: ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    UNUSED: ("Target.NotRegistered", "Target is not registered to the target group"),
    # A target whose OS is down does not answer at all; one whose app is broken answers wrongly.
    "timeout": ("Target.Timeout", "Request timed out"),
    "failed": ("Target.FailedHealthChecks", "Health checks failed"),
}


@dataclass(frozen=True)
class HealthCheck:
    interval: float
    healthy_threshold: int
    unhealthy_threshold: int

    @property
    def healthy_after(self) -> float:
        return self.healthy_threshold * self.interval

    @property
    def unhealthy_after(self) -> float:
        return self.unhealthy_threshold * self.interval


@dataclass(frozen=True)
class Phase:
    """From ``at`` on (until the next phase) the target is in ``state``; None means not registered."""

    at: float
    state: str | None


@dataclass
class Registration:
    registered_at: float
    port: int
    # The fleet's own targets were healthy long before build(); nobody registered them "just now".
    starts_healthy: bool = False
    deregistered_at: float | None = None
    drain_seconds: float = 0.0


def health_phases(start: float, end: float, starts_healthy: bool, failures: Sequence[tuple[float, float]],
                  check: HealthCheck) -> list[Phase]:
    """Health-check states of one registration over [start, end); ``failures`` are sorted and disjoint."""
    state = HEALTHY if starts_healthy else INITIAL
    phases = [Phase(start, state)]

    def passing(since: float, until: float) -> None:
        nonlocal state
        if state != HEALTHY and since + check.healthy_after < until:
            state = HEALTHY
            phases.append(Phase(since + check.healthy_after, state))

    def failing(since: float, until: float) -> None:
        nonlocal state
        if state != UNHEALTHY and since + check.unhealthy_after < until:
            state = UNHEALTHY
            phases.append(Phase(since + check.unhealthy_after, state))

    cursor = start
    for down_from, down_until in failures:
        if down_until <= start:
            continue
        if down_from >= end:
            break
        fail_start, fail_end = max(down_from, start), min(down_until, end)
        if fail_start > cursor:
            passing(cursor, fail_start)
        failing(fail_start, fail_end)
        cursor = fail_end
    if cursor < end:
        passing(cursor, end)
    return phases


class TargetRecord:
    """One instance in one target group: its registrations, and the timeline they imply."""

    def __init__(self, port: int, registered_at: float, starts_healthy: bool) -> None:
        self.registrations = [Registration(registered_at, port, starts_healthy)]
        self._version = 0
        self._cache_key: tuple[int, int] | None = None
        self._phases: list[Phase] = []
        self._times: list[float] = []

    @property
    def version(self) -> int:
        return self._version

    def active(self, at: float) -> bool:
        """Registered and not draining at ``at``."""
        last = self.registrations[-1]
        return last.registered_at <= at and (last.deregistered_at is None or at < last.deregistered_at)

    def register(self, at: float, port: int) -> bool:
        """Return False for a no-op: AWS ignores registering a target that is already registered."""
        if self.active(at):
            return False
        last = self.registrations[-1]
        if last.registered_at > at and last.deregistered_at is None:
            # An Auto Scaling registration still ahead (a replacement not InService yet): registering it
            # now just brings that one forward; the group's own call later is then a no-op.
            last.registered_at, last.port = at, port
            self._version += 1
            return True
        self.registrations.append(Registration(at, port))
        self._version += 1
        return True

    def deregister(self, at: float, drain_seconds: float) -> bool:
        """Return False for a no-op: AWS accepts deregistering a draining or unregistered target."""
        if not self.active(at):
            return False
        last = self.registrations[-1]
        last.deregistered_at = at
        last.drain_seconds = drain_seconds
        self._version += 1
        return True

    def port(self) -> int:
        return self.registrations[-1].port

    def phases(self, failures: Sequence[tuple[float, float]], failures_version: int,
               check: HealthCheck) -> tuple[list[float], list[Phase]]:
        """The whole timeline (past and already-determined future), cached until an event changes it."""
        key = (self._version, failures_version)
        if key != self._cache_key:
            self._phases = self._build(failures, check)
            self._times = [p.at for p in self._phases]
            self._cache_key = key
        return self._times, self._phases

    def _build(self, failures: Sequence[tuple[float, float]], check: HealthCheck) -> list[Phase]:
        phases: list[Phase] = []
        regs = self.registrations
        for index, reg in enumerate(regs):
            next_start = regs[index + 1].registered_at if index + 1 < len(regs) else float("inf")
            ends = reg.deregistered_at if reg.deregistered_at is not None else float("inf")
            phases.extend(health_phases(reg.registered_at, min(ends, next_start), reg.starts_healthy,
                                        failures, check))
            if reg.deregistered_at is not None and reg.deregistered_at < next_start:
                phases.append(Phase(reg.deregistered_at, DRAINING))
                gone_at = reg.deregistered_at + reg.drain_seconds
                if gone_at < next_start:
                    phases.append(Phase(gone_at, None))
        return phases

    def phase_index(self, times: list[float], at: float) -> int:
        """Index of the phase in force at ``at``; before the first registration the first phase counts
        only for targets that were healthy before build()."""
        index = bisect_right(times, at) - 1
        if index < 0 and self.registrations[0].starts_healthy:
            return 0
        return index

    def registration_at(self, at: float) -> Registration | None:
        """The registration (active or draining) that ``at`` belongs to."""
        found = None
        for reg in self.registrations:
            if reg.registered_at > at:
                break
            found = reg
        if found is None and self.registrations[0].starts_healthy:
            return self.registrations[0]
        return found
