"""One simulated instance: its OS (power), its targets, and what its CloudWatch agent would report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nightshift.sim import sockets
from nightshift.sim.power import REBOOT, STOP, TERMINATE, PowerHistory
from nightshift.sim.sockets import Socket
from nightshift.sim.spec import UNRESPONSIVE_FAULTS, InstanceSpec
from nightshift.sim.target_health import DRAINING, HEALTHY, REASONS, UNHEALTHY, HealthCheck, Phase, TargetRecord

# Connections are counted as whole sockets; shave float noise before rounding up so an exact 0 stays 0.
_EPSILON = 1e-9


def _merged(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals: touching or overlapping failures are one failure streak, so the
    unhealthy threshold counts from the first of them."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class TargetView:
    """One target's state at an instant, in DescribeTargetHealth's vocabulary."""

    state: str | None  # None: not registered (absent from an unfiltered DescribeTargetHealth)
    reason: str | None
    description: str | None
    port: int


@dataclass
class SimulatedInstance:
    index: int
    instance_id: str
    availability_zone: str
    subnet_id: str
    spec: InstanceSpec
    power: PowerHistory
    # target group ARN -> this instance's target in it
    targets: dict[str, TargetRecord] = field(default_factory=dict)
    # What DescribeInstances says, and what the CloudWatch agent appends as ImageId / InstanceType.
    instance_type: str = ""
    image_id: str = ""

    def failures(self) -> tuple[list[tuple[float, float]], int]:
        """Intervals where health checks fail (sorted, disjoint), and a version that changes whenever they do."""
        intervals = self.power.down_intervals()
        broken = self._app_broken()
        if broken is not None:
            intervals.append(broken)
        origin = self.power.first_boot
        intervals += [(origin + start, origin + end) for start, end in self.spec.health_check_failures]
        fault = self.fault_interval()
        if fault is not None:
            intervals.append(fault)
        return _merged(intervals), self.power.version

    def fault_interval(self) -> tuple[float, float] | None:
        """When ``spec.fault`` holds: from its start to the moment the OS stops serving for what cures it (a
        reboot or a stop/start; for a system impairment only a stop/start, which moves it to a new host:
        https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-system-instance-status-check.html).
        The outage itself then covers the time until the OS is back."""
        if self.spec.fault is None:
            return None
        start = self.power.first_boot + self.spec.fault_at
        cures = (STOP, TERMINATE) if self.spec.fault == "system_impaired" else (REBOOT, STOP, TERMINATE)
        cure = next((o for o in self.power.outages if o.kind in cures and o.stops_serving_at >= start), None)
        return start, (cure.stops_serving_at if cure is not None else math.inf)

    def faulty(self, at: float) -> bool:
        fault = self.fault_interval()
        return fault is not None and fault[0] <= at < fault[1]

    def responsive(self, at: float) -> bool:
        """The OS is up and answers (its agents publish and take commands): not down, not hung or impaired."""
        if not self.power.is_up(at):
            return False
        return not (self.spec.fault in UNRESPONSIVE_FAULTS and self.faulty(at))

    def status_checks(self, at: float) -> tuple[tuple[str, float | None], tuple[str, float | None]]:
        """(InstanceStatus, ImpairedSince) and (SystemStatus, ImpairedSince) of a running instance at ``at``."""
        fault = self.fault_interval()
        if fault is None or not fault[0] <= at < fault[1]:
            return ("ok", None), ("ok", None)
        if self.spec.fault == "instance_impaired":
            return ("impaired", fault[0]), ("ok", None)
        if self.spec.fault == "system_impaired":
            return ("ok", None), ("impaired", fault[0])
        return ("ok", None), ("ok", None)

    def _app_broken(self) -> tuple[float, float] | None:
        """With app_fails: the app breaks with the first real reboot and never answers a check again, unless
        a later stop/start moves it to a new host that cures it (new_host_cures)."""
        if not self.spec.app_fails:
            return None
        outages = self.power.outages
        first = next((o for o in outages if o.kind == REBOOT), None)
        if first is None:
            return None
        if self.spec.new_host_cures:
            cure = next((o for o in outages if o.kind == STOP and o.stops_serving_at >= first.stops_serving_at), None)
            if cure is not None:
                return first.stops_serving_at, cure.up_at
        return first.stops_serving_at, math.inf

    def ec2_state(self, at: float) -> str:
        return self.power.state(at)

    def phase(self, tg_arn: str, check: HealthCheck, at: float) -> tuple[Phase | None, int]:
        """The phase of this instance's target at ``at`` and its index (-1: never registered yet)."""
        record = self.targets[tg_arn]
        failures, version = self.failures()
        times, phases = record.phases(failures, version, check)
        index = record.phase_index(times, at)
        return (phases[index] if index >= 0 else None), index

    def target_view(self, tg_arn: str, check: HealthCheck, at: float) -> TargetView:
        record = self.targets[tg_arn]
        phase, _ = self.phase(tg_arn, check, at)
        state = phase.state if phase is not None else None
        reason: tuple[str, str] | None
        if state == UNHEALTHY:
            reason = REASONS["timeout"] if not self.responsive(at) else REASONS["failed"]
        else:
            reason = REASONS.get(state) if state is not None else None
        return TargetView(state, reason[0] if reason else None, reason[1] if reason else None, record.port())

    def quiet(self) -> bool:
        """Nothing happened to it since build(): every metric is a constant (the fast path at scale)."""
        return (not self.power.requests and not self.power.outages and not self.spec.health_check_failures
                and self.spec.fault is None) and all(
            len(r.registrations) == 1 and r.registrations[0].deregistered_at is None for r in self.targets.values()
        )

    def memory_percent(self, at: float) -> float | None:
        """Memory in use at ``at``; None while the OS is down or hangs (the agent publishes nothing then)."""
        spec = self.spec
        if not self.responsive(at):
            return None
        if spec.leak_to_percent is None:
            return spec.memory_percent
        recovered = self.power.last_recovery(at)
        if recovered is None:
            if spec.leak_elapsed_at_build is None or spec.leak_returns_after_seconds is None:
                return spec.leak_to_percent
            climbing_since = self.power.first_boot - spec.leak_elapsed_at_build
        elif spec.leak_returns_after_seconds is None:
            return spec.memory_percent
        else:
            climbing_since = recovered.up_at
        progress = min(1.0, max(0.0, (at - climbing_since) / spec.leak_returns_after_seconds))
        return spec.memory_percent + (spec.leak_to_percent - spec.memory_percent) * progress

    def constant_memory(self) -> float | None:
        """Memory of a quiet instance: the leak level for a leaking one, else its steady level; None when it
        changes even while nothing happens to the instance (a leak still climbing since before build)."""
        spec = self.spec
        if spec.leak_to_percent is None:
            return spec.memory_percent
        return spec.leak_to_percent if spec.leak_elapsed_at_build is None else None

    def load_balancer_connections(self, checks: dict[str, HealthCheck], at: float) -> dict[int, int] | None:
        split = self._load_balancer_connections(checks, at)
        return None if split is None else split[0]

    def _load_balancer_connections(self, checks: dict[str, HealthCheck],
                                   at: float) -> tuple[dict[int, int], dict[int, int]] | None:
        """The load balancer's open connections at ``at`` per local port (the port each target is
        registered on), and how many of them belong to a draining target; None while the OS is down.

        The connections are split over the target groups in whole sockets. A healthy target serves its
        share; a target that was healthy when deregistered keeps its share in flight, decaying linearly over
        ``inflight_seconds``, until the load balancer closes what is left when the delay ends; anything else
        carries nothing. Connections die with the OS, so none survive a reboot. What AWS documents about a
        draining target's connections (docs/aws-behaviour.md, "Drain signal"):
        https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay
        """
        if not self.power.is_up(at):
            return None
        by_port: dict[int, int] = {}
        draining: dict[int, int] = {}
        if not self.targets:
            return by_port, draining
        base, extra = divmod(self.spec.connections, len(self.targets))
        for position, (tg_arn, record) in enumerate(self.targets.items()):
            share = base + (1 if position < extra else 0)
            phase, index = self.phase(tg_arn, checks[tg_arn], at)
            open_now = 0.0
            if phase is None:
                pass
            elif phase.state == HEALTHY:
                open_now = float(share)
            elif phase.state == DRAINING and index > 0:
                failures, version = self.failures()
                _, phases = record.phases(failures, version, checks[tg_arn])
                if phases[index - 1].state == HEALTHY and not self.power.lost_between(phase.at, at):
                    open_now = share * self._still_in_flight(at - phase.at)
            port = record.port()
            whole = math.ceil(open_now - _EPSILON) if open_now > _EPSILON else 0
            by_port[port] = by_port.get(port, 0) + whole
            if phase is not None and phase.state == DRAINING:
                draining[port] = draining.get(port, 0) + whole
        return by_port, draining

    def lb_connections(self, checks: dict[str, HealthCheck], at: float) -> int | None:
        """All the load balancer's connections to this instance (requests a reboot would cut)."""
        by_port = self.load_balancer_connections(checks, at)
        return None if by_port is None else sum(by_port.values())

    def service_ports(self) -> list[int]:
        """The ports the app listens on: every port it was ever registered on."""
        return sorted({r.port for record in self.targets.values() for r in record.registrations})

    def sockets(self, checks: dict[str, HealthCheck], at: float) -> list[Socket] | None:
        """Every established TCP socket of the host at ``at`` (None while the OS is down): the load
        balancer's on the registered ports (``spec.close_wait_connections`` of a draining target's in CLOSE-WAIT
        instead), plus, with ``spec.background_connections``, the agents', SSH, a
        database pool and loopback connections on the service ports, which never end."""
        split = self._load_balancer_connections(checks, at)
        if split is None:
            return None
        by_port, draining = split
        table: list[Socket] = []
        for port, n in sorted(by_port.items()):
            half_closed = min(draining.get(port, 0), self.spec.close_wait_connections)
            if n - half_closed > 0:
                table.append(sockets.load_balancer(port, n - half_closed))
            if half_closed > 0:
                table.append(sockets.load_balancer(port, half_closed, "close-wait"))
        if self.spec.background_connections:
            table += sockets.background(self.service_ports())
        return table

    def established_connections(self, checks: dict[str, HealthCheck], at: float) -> int | None:
        """Every established TCP connection of the host, as the CloudWatch agent's ``netstat_tcp_established``
        counts them (host-wide: it never reaches 0 on a host with background connections); None while down."""
        table = self.sockets(checks, at)
        return None if table is None else sum(s.count for s in table if s.state == "established")

    def constant_connections(self) -> int:
        """The host-wide count of a quiet instance (every target healthy since build)."""
        background = sockets.background(self.service_ports()) if self.spec.background_connections else []
        return self.spec.connections + sum(s.count for s in background)

    def _still_in_flight(self, since_deregistration: float) -> float:
        inflight = self.spec.inflight_seconds
        if inflight is None:
            return 1.0
        if inflight == 0:
            return 0.0
        return max(0.0, 1.0 - since_deregistration / inflight)

    def inflight_end(self) -> float | None:
        """When the last in-flight request of the latest drain really ends (None: never, or no drain)."""
        ends: list[float] = []
        for record in self.targets.values():
            last = record.registrations[-1]
            if last.deregistered_at is None:
                continue
            start = last.deregistered_at
            if self.spec.inflight_seconds is None:
                return None
            end = start + self.spec.inflight_seconds
            # The OS going down cuts whatever is still open.
            for outage in self.power.outages:
                if start <= outage.stops_serving_at < end:
                    end = outage.stops_serving_at
                    break
            ends.append(end)
        return max(ends) if ends else None
