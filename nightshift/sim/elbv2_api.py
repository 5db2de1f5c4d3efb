"""ELBv2 for the simulated target groups: registration events, target health over time, the true delay.

moto removes a deregistered target at once and reports every registered target ``healthy``; AWS keeps a
deregistered target ``draining`` for the whole delay and makes a registered one pass health checks
first. The simulator records each (de)registration (target_groups.py, shared with the Auto Scaling group),
keeps moto's own target list in step, and answers DescribeTargetHealth itself. Calls about other target
groups pass through to moto untouched.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay
"""

from __future__ import annotations

from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import moto_backend, target_groups
from nightshift.sim.power import RUNNING
from nightshift.sim.target_groups import SimulatedTargetGroup
from nightshift.sim.target_health import REASONS, UNUSED
from nightshift.sim.world import FleetWorld

SERVICE = "elastic-load-balancing-v2"
_NOT_OURS = (
    "The specified target does not exist or is not in the same VPC as the target group "
    "(the fleet simulator answers only for the instances it built)."
)


def install(sim: FleetWorld, interceptor: Interceptor) -> None:
    for operation, answerer in (
        ("DescribeTargetHealth", describe_target_health),
        ("RegisterTargets", register_targets),
        ("DeregisterTargets", deregister_targets),
        ("DescribeTargetGroupAttributes", describe_target_group_attributes),
        ("ModifyTargetGroupAttributes", modify_target_group_attributes),
    ):
        interceptor.answer(SERVICE, operation, partial(answerer, sim))


def _own_group(sim: FleetWorld, params: dict[str, Any], operation: str) -> SimulatedTargetGroup | None:
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


def describe_target_health(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
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


def _fleet_targets(sim: FleetWorld, params: dict[str, Any]) -> list[tuple[str, int | None]]:
    targets = [(str(t["Id"]), int(t["Port"]) if "Port" in t else None) for t in params.get("Targets") or []]
    unknown = [i for i, _ in targets if sim.instance(i) is None]
    if unknown:
        raise AwsError("InvalidTarget", f"{_NOT_OURS} Unknown: {', '.join(unknown)}")
    return targets


def register_targets(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
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
        target_groups.register(group, [(i, port) for i, port in instances if i is not None], now)
    return {}


def deregister_targets(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.DeregisterTargets")
    if group is None:
        return None
    with sim.lock:
        sim.deregister_requests.append((group.arn, [dict(t) for t in params.get("Targets") or []]))
        targets = _fleet_targets(sim, params)
        # A target is the pair (Id, Port): target_groups.named_registrations applies AWS's rule (cited there).
        named = target_groups.named_registrations(group, [(sim.instance(i), port) for i, port in targets])
        target_groups.deregister(group, named, sim.now())
    return {}


def _attributes(group: SimulatedTargetGroup) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in target_groups.attributes(group).items()]


def describe_target_group_attributes(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.DescribeTargetGroupAttributes")
    if group is None:
        return None
    with sim.lock:
        return {"Attributes": _attributes(group)}


def modify_target_group_attributes(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    group = _own_group(sim, params, "elbv2.ModifyTargetGroupAttributes")
    if group is None:
        return None
    attributes = {str(a["Key"]): str(a["Value"]) for a in params.get("Attributes") or []}
    with sim.lock:
        target_groups.modify_attributes(group, attributes)
        return {"Attributes": _attributes(group)}
