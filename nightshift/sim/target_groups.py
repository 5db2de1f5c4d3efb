"""The simulated target groups and what (de)registering a target does to them, whoever asks.

Both the ELBv2 answerers (RegisterTargets, DeregisterTargets) and the Auto Scaling group (EnterStandby,
ExitStandby, a replacement going InService, a termination) change a target group's registrations; the logic
lives here so that neither the fleet nor the Auto Scaling group reaches into an answerer module. Each change
is recorded on the instance's ``TargetRecord`` (target_health.py answers what DescribeTargetHealth says from
those records) and mirrored in moto's own target list, which moto keeps for its validation only.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay
"""

from __future__ import annotations

from dataclasses import dataclass

from nightshift.runtime.interceptor import AwsError
from nightshift.sim import moto_backend, routing
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.target_health import HealthCheck, TargetRecord


@dataclass
class SimulatedTargetGroup:
    arn: str
    name: str
    protocol: str
    port: int  # the target group's Port (a registration without a Port gets this one)
    check: HealthCheck
    # The true delay; moto may hold a clamped copy (see moto_backend).
    deregistration_delay: int
    # The port the fleet's instances are registered on at build (a port override when it differs from port).
    target_port: int = 0


def register(group: SimulatedTargetGroup, targets: list[tuple[SimulatedInstance, int]], at: float) -> None:
    """Register targets in the simulator and in moto's list: RegisterTargets, and Auto Scaling's own
    registrations (ExitStandby, a replacement going InService). The caller holds the lock."""
    for instance, port in targets:
        record = instance.targets.get(group.arn)
        if record is None:
            instance.targets[group.arn] = TargetRecord(port, at, starts_healthy=False)
        else:
            record.register(at, port)
    moto_backend.register_known_targets(group.arn, [(instance.instance_id, port) for instance, port in targets])


def deregister(group: SimulatedTargetGroup, instances: list[SimulatedInstance], at: float) -> float:
    """Deregister targets in the simulator and in moto's list: DeregisterTargets, and Auto Scaling's own
    deregistrations (EnterStandby, a termination). Returns when the last of their drains ends (``at`` when
    none is registered). The caller holds the lock."""
    removed = []
    drained = at
    for instance in instances:
        record = instance.targets.get(group.arn)
        if record is None:
            continue
        # Deregistering a draining or unregistered target is accepted and changes nothing, as on AWS;
        # the drain keeps the delay in force when it started.
        if record.deregister(at, group.deregistration_delay):
            removed.append(instance.instance_id)
        last = record.registrations[-1]
        if last.deregistered_at is not None and last.registered_at <= at:
            drained = max(drained, last.deregistered_at + last.drain_seconds)
    moto_backend.deregister_targets(group.arn, removed)
    return drained


def named_registrations(group: SimulatedTargetGroup,
                        targets: list[tuple[SimulatedInstance | None, int | None]]) -> list[SimulatedInstance]:
    """The instances whose registration a DeregisterTargets ``Targets`` list names (None: not simulated)."""
    # A target is the pair (Id, Port); a Targets entry without Port names (Id, the group's Port). "If you
    # specified a port override when you registered a target, you must specify both the target ID and the
    # port when you deregister it", and "If the specified target does not exist, the action returns
    # successfully": without the overriding Port nothing is deregistered, and the call succeeds.
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeregisterTargets.html
    named = []
    for instance, port in targets:
        record = instance.targets.get(group.arn) if instance is not None else None
        if instance is not None and record is not None and record.port() == (port if port is not None
                                                                             else group.port):
            named.append(instance)
    return named


def attributes(group: SimulatedTargetGroup) -> dict[str, str]:
    """The group's attributes as DescribeTargetGroupAttributes reports them: moto's, with the true delay, and the
    target_group_health defaults moto leaves out (nightshift/sim/routing.py)."""
    found = {**routing.TARGET_GROUP_HEALTH_DEFAULTS, **moto_backend.target_group_attributes(group.arn)}
    found[moto_backend.DEREGISTRATION_DELAY] = str(group.deregistration_delay)
    return found


def modify_attributes(group: SimulatedTargetGroup, changes: dict[str, str]) -> None:
    """ModifyTargetGroupAttributes: the delay must be 0-3600 seconds (refused before anything changes); moto
    keeps the rest; the cross-zone and target_group_health values are checked against AWS's documented ones
    (nightshift/sim/routing.py), which moto does not. The caller holds the lock."""
    delay = validated_delay(changes)
    try:
        routing.validated(changes)
    except ValueError as exc:
        raise AwsError("ValidationError", str(exc)) from exc
    moto_backend.modify_target_group_attributes(group.arn, changes)
    if delay is not None:
        group.deregistration_delay = delay


def validated_delay(changes: dict[str, str]) -> int | None:
    """The new deregistration delay in ``changes`` (None: not changed); refused outside 0-3600 seconds."""
    if moto_backend.DEREGISTRATION_DELAY not in changes:
        return None
    raw = changes[moto_backend.DEREGISTRATION_DELAY]
    if not raw.isdigit() or int(raw) > 3600:
        raise AwsError("ValidationError", f"'{moto_backend.DEREGISTRATION_DELAY}' value '{raw}' must be "
                                          "between '0-3600' inclusive")
    return int(raw)
