"""EC2 Auto Scaling for the simulated groups: every call that names a simulated group or its instances.

The group's behaviour lives in ``autoscaling.py``; this module reads parameters, finds which simulator (this
one or a peer on the same interceptor) owns the group, and shapes AWS's answers. A call about anything else
(another group, instances nobody simulates) returns None and passes through to moto.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import moto_backend
from nightshift.sim.autoscaling import IN_PROGRESS, Activity, AutoScalingGroup, Member, iso_seconds
from nightshift.sim.world import FleetWorld

SERVICE = "auto-scaling"
_MAX_RECORDS = 100


def install(sim: FleetWorld, interceptor: Interceptor) -> None:
    for operation, answerer in (
        ("DescribeAutoScalingInstances", describe_auto_scaling_instances),
        ("DescribeAutoScalingGroups", describe_auto_scaling_groups),
        ("EnterStandby", enter_standby),
        ("ExitStandby", exit_standby),
        ("SetInstanceHealth", set_instance_health),
        ("DescribeScalingActivities", describe_scaling_activities),
        ("DescribeInstanceRefreshes", describe_instance_refreshes),
        ("DescribeLifecycleHooks", describe_lifecycle_hooks),
        ("RecordLifecycleActionHeartbeat", record_lifecycle_action_heartbeat),
        ("CompleteLifecycleAction", complete_lifecycle_action),
    ):
        interceptor.answer(SERVICE, operation, partial(answerer, sim))


def _stamp(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)


def _groups(sim: FleetWorld) -> list[tuple[FleetWorld, AutoScalingGroup]]:
    """Every simulated group on the interceptor: the first simulator asked answers for its peers too."""
    return [(peer, peer.auto_scaling) for peer in sim.peers if peer.auto_scaling is not None]


def _group_named(sim: FleetWorld, name: object) -> tuple[FleetWorld, AutoScalingGroup] | None:
    return next(((peer, group) for peer, group in _groups(sim) if group.name == name), None)


def _owned_group(sim: FleetWorld, params: dict[str, Any],
                 operation: str) -> tuple[FleetWorld, AutoScalingGroup] | None:
    found = _group_named(sim, params.get("AutoScalingGroupName"))
    sim.tally(operation, [found[0]] if found is not None else [])
    return found


def _ids(params: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in params.get("InstanceIds") or []))


def _moto_has_groups(sim: FleetWorld) -> bool:
    return bool(moto_backend.autoscaling_group_names(sim.account_id, sim.spec.region))


def _instance_fields(sim: FleetWorld, group: AutoScalingGroup, member: Member, state: str) -> dict[str, Any]:
    instance = sim.instance(member.instance_id)
    assert instance is not None
    return {"InstanceId": member.instance_id, "InstanceType": instance.instance_type,
            "AvailabilityZone": instance.availability_zone, "LifecycleState": state,
            "HealthStatus": member.health, "ProtectedFromScaleIn": False}


def describe_auto_scaling_instances(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    ids = _ids(params)
    with sim.lock:
        if ids:
            owners = {i: owner for i in ids if (owner := sim.owner_of(i)) is not None}
            sim.tally("autoscaling.DescribeAutoScalingInstances", [fleet for fleet, _ in owners.values()])
            if not owners:
                return None
            wanted = [(fleet, i) for i, (fleet, _) in owners.items()]
        else:
            sim.tally("autoscaling.DescribeAutoScalingInstances")
            if _moto_has_groups(sim) or not _groups(sim):
                return None  # moto's own groups exist: let moto list its members (ours are not in moto)
            wanted = [(fleet, i.instance_id) for fleet, _ in _groups(sim) for i in fleet.instances]
        now = sim.now()
        found = []
        for fleet, instance_id in wanted:
            group = fleet.auto_scaling
            member = group.members.get(instance_id) if group is not None else None
            state = member.state(now) if member is not None else None
            if group is None or member is None or state is None:
                continue  # in no group (any more): simply absent, as on AWS
            fields = _instance_fields(fleet, group, member, state)
            # This call upper-cases the health status; DescribeAutoScalingGroups does not.
            fields["HealthStatus"] = member.health.upper()
            found.append({**fields, "AutoScalingGroupName": group.name})
        max_records = int(params.get("MaxRecords") or 50)
        return {"AutoScalingInstances": found[:max_records]}


def _group_description(fleet: FleetWorld, group: AutoScalingGroup, now: float) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": group.name,
        "AutoScalingGroupARN": group.arn,
        "MinSize": group.min_size,
        "MaxSize": group.max_size,
        "DesiredCapacity": group.desired,
        "DefaultCooldown": 300,
        "AvailabilityZones": list(group.availability_zones),
        "LoadBalancerNames": [],
        "TargetGroupARNs": list(group.target_group_arns),
        "HealthCheckType": "ELB",
        "HealthCheckGracePeriod": 300,
        "Instances": [_instance_fields(fleet, group, member, state) for member, state in group.current_members(now)],
        "CreatedTime": _stamp(group.created_at),
        "SuspendedProcesses": [],
        "VPCZoneIdentifier": ",".join(group.subnet_ids),
        "EnabledMetrics": [],
        "Tags": [{"ResourceId": group.name, "ResourceType": "auto-scaling-group", "Key": key, "Value": value,
                  "PropagateAtLaunch": True} for key, value in group.tags.items()],
        "TerminationPolicies": ["NewestInstance"],
        "NewInstancesProtectedFromScaleIn": False,
    }


def describe_auto_scaling_groups(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    names = [str(n) for n in params.get("AutoScalingGroupNames") or []]
    with sim.lock:
        if names:
            found = [owned for name in dict.fromkeys(names) if (owned := _group_named(sim, name)) is not None]
            sim.tally("autoscaling.DescribeAutoScalingGroups", [fleet for fleet, _ in found])
            if not found:
                return None
        else:
            sim.tally("autoscaling.DescribeAutoScalingGroups")
            if params.get("Filters") or _moto_has_groups(sim) or not _groups(sim):
                return None  # filters, or moto's own groups: moto answers (without the simulated ones)
            found = _groups(sim)
        now = sim.now()
        return {"AutoScalingGroups": [_group_description(fleet, group, now) for fleet, group in found]}


def _activity(group: AutoScalingGroup, activity: Activity, now: float, status: str | None = None,
              progress: int | None = None) -> dict[str, Any]:
    status = status or activity.status(now)
    shaped: dict[str, Any] = {
        "ActivityId": activity.activity_id,
        "AutoScalingGroupName": group.name,
        "AutoScalingGroupARN": group.arn,
        "Description": activity.description,
        "Cause": activity.cause,
        "StartTime": _stamp(activity.start),
        "StatusCode": status,
        "Progress": progress if progress is not None else activity.progress(now),
        "Details": activity.details,
    }
    if status != IN_PROGRESS and now >= activity.end:
        shaped["EndTime"] = _stamp(activity.end)
    return shaped


def enter_standby(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.EnterStandby")
    if owned is None:
        return None
    _, group = owned
    with sim.lock:
        now = sim.now()
        activities = group.enter_standby(_ids(params), bool(params.get("ShouldDecrementDesiredCapacity")), now)
        # AWS answers while the move is under way, whatever the drain: InProgress, 50 %.
        return {"Activities": [_activity(group, a, now, IN_PROGRESS, 50) for a in activities]}


def exit_standby(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.ExitStandby")
    if owned is None:
        return None
    _, group = owned
    with sim.lock:
        now = sim.now()
        activities = group.exit_standby(_ids(params), now)
        # AWS's documented answer: the move has just started (PreInService, 30 %).
        return {"Activities": [_activity(group, a, now, "PreInService", 30) for a in activities]}


def set_instance_health(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    instance_id = str(params.get("InstanceId"))
    with sim.lock:
        owner = sim.owner_of(instance_id)
        sim.tally("autoscaling.SetInstanceHealth", [owner[0]] if owner is not None else [])
        if owner is None:
            return None
        group = owner[0].auto_scaling
        if group is None:
            raise AwsError("ValidationError",
                           f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
        # ShouldRespectGracePeriod only matters within HealthCheckGracePeriod of a launch; the fleet's
        # instances are long past it and a replacement is not InService (so not replaced) before it ends.
        group.set_instance_health(instance_id, str(params.get("HealthStatus")), sim.now())
    return {}


def _page(params: dict[str, Any], items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxRecords") or _MAX_RECORDS)
    page: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page


def describe_scaling_activities(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.DescribeScalingActivities")
    if owned is None:
        return None
    _, group = owned
    with sim.lock:
        now = sim.now()
        wanted = set(params.get("ActivityIds") or [])
        activities = [_activity(group, a, now) for a in group.visible_activities(now)
                      if not wanted or a.activity_id in wanted]
        return _page(params, activities, "Activities")


def describe_instance_refreshes(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.DescribeInstanceRefreshes")
    if owned is None:
        return None
    _, group = owned
    with sim.lock:
        now = sim.now()
        refreshes = []
        if group.injected_refresh is not None and group.injected_refresh[1] <= now:
            refresh_id, start, end = group.injected_refresh
            wanted = params.get("InstanceRefreshIds")
            if not wanted or refresh_id in wanted:
                done = now >= end
                refresh: dict[str, Any] = {
                    "InstanceRefreshId": refresh_id,
                    "AutoScalingGroupName": group.name,
                    "Status": "Successful" if done else "InProgress",
                    "StatusReason": "" if done else f"Waiting for instances to warm up (started {iso_seconds(start)}).",
                    "StartTime": _stamp(start),
                    "PercentageComplete": 100 if done else int(100 * (now - start) / (end - start)),
                    "InstancesToUpdate": 0 if done else max(1, len(group.current_members(now)) // 2),
                }
                if done:
                    refresh["EndTime"] = _stamp(end)
                refreshes.append(refresh)
        return _page(params, refreshes, "InstanceRefreshes")


# -- termination lifecycle hooks (nightshift/sim/autoscaling.py models them) ----------------------------------

def describe_lifecycle_hooks(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.DescribeLifecycleHooks")
    if owned is None:
        return None
    _, group = owned
    hook = group.spec.termination_hook
    wanted = params.get("LifecycleHookNames") or []
    if hook is None or (wanted and hook.name not in wanted):
        return {"LifecycleHooks": []}
    return {"LifecycleHooks": [{
        "LifecycleHookName": hook.name, "AutoScalingGroupName": group.name,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", "HeartbeatTimeout": hook.heartbeat_timeout,
        "GlobalTimeout": min(172800, 100 * hook.heartbeat_timeout), "DefaultResult": hook.default_result}]}


def _lifecycle_params(params: dict[str, Any]) -> tuple[str, str | None, str | None]:
    instance_id = params.get("InstanceId")
    token = params.get("LifecycleActionToken")
    if not instance_id and not token:
        raise AwsError("ValidationError", "Either InstanceId or LifecycleActionToken must be specified")
    return str(params.get("LifecycleHookName")), str(instance_id) if instance_id else None, \
        str(token) if token else None


def record_lifecycle_action_heartbeat(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.RecordLifecycleActionHeartbeat")
    if owned is None:
        return None
    _, group = owned
    hook, instance_id, token = _lifecycle_params(params)
    with sim.lock:
        group.record_heartbeat(hook, instance_id, token, sim.now())
    return {}


def complete_lifecycle_action(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    owned = _owned_group(sim, params, "autoscaling.CompleteLifecycleAction")
    if owned is None:
        return None
    _, group = owned
    hook, instance_id, token = _lifecycle_params(params)
    with sim.lock:
        group.complete(hook, instance_id, token, str(params.get("LifecycleActionResult")), sim.now())
    return {}
