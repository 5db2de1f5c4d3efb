"""ELBv2 for the simulated target groups: registration events, target health over time, the true delay.

moto removes a deregistered target at once and reports every registered target ``healthy``; AWS keeps a
deregistered target ``draining`` for the whole delay and makes a registered one pass health checks
first. The simulator records each (de)registration, keeps moto's own target list in step, and answers
DescribeTargetHealth itself. Calls about other target groups pass through to moto untouched.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import moto_backend
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.power import RUNNING
from nightshift.sim.target_health import REASONS, UNUSED, TargetRecord

if TYPE_CHECKING:
    from nightshift.sim.fleet import FleetSimulator, SimulatedTargetGroup

SERVICE = "elastic-load-balancing-v2"
_NOT_OURS = (
    "The specified target does not exist or is not in the same VPC as the target group "
    "(the fleet simulator answers only for the instances it built)."
)


def install(sim: FleetSimulator, interceptor: Interceptor) -> None:
    for operation, answerer in (
        ("DescribeTargetHealth", describe_target_health),
        ("RegisterTargets", register_targets),
        ("DeregisterTargets", deregister_targets),
        ("DescribeTargetGroupAttributes", describe_target_group_attributes),
        ("ModifyTargetGroupAttributes", modify_target_group_attributes),
    ):
        interceptor.answer(SERVICE, operation, partial(answerer, sim))


def _own_group(sim: FleetSimulator, params: dict[str, Any], operation: str) -> SimulatedTargetGroup | None:
    """This simulator's target group the call is about, or None to let a peer or moto answer."""
    arn = params.get("TargetGroupArn")
    group = sim.target_group(arn)
    if group is not None:
        sim.tally(operation, [sim])
    elif not sim.simulated_anywhere(arn):
        sim.tally(operation)
    return group


def _description(instance_id: str, port: int, state: str, reason: str | None,
                 description: str | None) -> dict[str, Any]:
    health: dict[str, Any] = {"State": state}
    if reason is not None:
        health["Reason"] = reason
    if description is not None:
        health["Description"] = description
    # The groups check "traffic-port", so the health check port is the target's own port.
    return {"Target": {"Id": instance_id, "Port": port}, "HealthCheckPort": str(port), "TargetHealth": health}


def _unused(instance_id: str, port: int) -> dict[str, Any]:
    reason, description = REASONS[UNUSED]
    return _description(instance_id, port, UNUSED, reason, description)


def describe_target_health(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.DescribeTargetHealth")
    if group is None:
        return None
    with sim.lock:
        now = sim.now()
        descriptions = []
        asked = params.get("Targets")
        if asked:
            for target in asked:
                instance = sim.instance(str(target["Id"]))
                port = int(target.get("Port", group.port))
                if instance is None or group.arn not in instance.targets:
                    descriptions.append(_unused(str(target["Id"]), port))
                    continue
                view = instance.target_view(group.arn, group.check, now)
                if view.state is None:
                    # Gone: AWS answers a target it was asked about by id as `unused`.
                    descriptions.append(_unused(instance.instance_id, int(target.get("Port", view.port))))
                else:
                    descriptions.append(_description(instance.instance_id, view.port, view.state, view.reason,
                                                     view.description))
        else:
            for instance in sim.instances:
                view = instance.target_view(group.arn, group.check, now)
                if view.state is not None:  # gone targets are not listed at all
                    descriptions.append(_description(instance.instance_id, view.port, view.state, view.reason,
                                                     view.description))
        return {"TargetHealthDescriptions": descriptions}


def _fleet_targets(sim: FleetSimulator, params: dict[str, Any]) -> list[tuple[str, int | None]]:
    targets = [(str(t["Id"]), int(t["Port"]) if "Port" in t else None) for t in params.get("Targets") or []]
    unknown = [i for i, _ in targets if sim.instance(i) is None]
    if unknown:
        raise AwsError("InvalidTarget", f"{_NOT_OURS} Unknown: {', '.join(unknown)}")
    return targets


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


def register_targets(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.RegisterTargets")
    if group is None:
        return None
    with sim.lock:
        targets = _fleet_targets(sim, params)
        now = sim.now()
        instances = [(sim.instance(i), port if port is not None else group.port) for i, port in targets]
        # "If the target is an EC2 instance, it must be in the running state when you register it."
        not_running = [i.instance_id for i, _ in instances if i is not None and i.ec2_state(now) != RUNNING]
        if not_running:
            raise AwsError("InvalidTarget", "The following targets are not in a running state and cannot be "
                                            "registered: " + ", ".join(f"'{i}'" for i in not_running))
        moto_backend.register_targets(group.arn, [{"Id": i.instance_id, "Port": port}
                                                  for i, port in instances if i is not None])
        register(group, [(i, port) for i, port in instances if i is not None], now)
    return {}


def deregister_targets(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.DeregisterTargets")
    if group is None:
        return None
    with sim.lock:
        sim.deregister_requests.append((group.arn, [dict(t) for t in params.get("Targets") or []]))
        targets = _fleet_targets(sim, params)
        # A target is the pair (Id, Port); a Targets entry without Port names (Id, the group's Port). "If you
        # specified a port override when you registered a target, you must specify both the target ID and the
        # port when you deregister it", and "If the specified target does not exist, the action returns
        # successfully": without the overriding Port nothing is deregistered, and the call succeeds.
        # https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeregisterTargets.html
        named = []
        for instance_id, port in targets:
            instance = sim.instance(instance_id)
            record = instance.targets.get(group.arn) if instance is not None else None
            if instance is not None and record is not None and record.port() == (port if port is not None
                                                                                 else group.port):
                named.append(instance)
        deregister(group, named, sim.now())
    return {}


def _attributes(group: SimulatedTargetGroup) -> list[dict[str, str]]:
    attributes = moto_backend.target_group_attributes(group.arn)
    attributes[moto_backend.DEREGISTRATION_DELAY] = str(group.deregistration_delay)
    return [{"Key": key, "Value": value} for key, value in attributes.items()]


def describe_target_group_attributes(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.DescribeTargetGroupAttributes")
    if group is None:
        return None
    with sim.lock:
        return {"Attributes": _attributes(group)}


def modify_target_group_attributes(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.ModifyTargetGroupAttributes")
    if group is None:
        return None
    attributes = {str(a["Key"]): str(a["Value"]) for a in params.get("Attributes") or []}
    delay: int | None = None
    if moto_backend.DEREGISTRATION_DELAY in attributes:
        raw = attributes[moto_backend.DEREGISTRATION_DELAY]
        if not raw.isdigit() or int(raw) > 3600:
            raise AwsError("ValidationError", f"'{moto_backend.DEREGISTRATION_DELAY}' value '{raw}' must be "
                                              "between '0-3600' inclusive")
        delay = int(raw)
    with sim.lock:
        moto_backend.modify_target_group_attributes(group.arn, attributes)
        if delay is not None:
            group.deregistration_delay = delay
        return {"Attributes": _attributes(group)}

