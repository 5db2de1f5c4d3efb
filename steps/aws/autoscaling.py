"""Auto Scaling: which group an instance belongs to and in which lifecycle state, Standby, health, activity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call
from steps.core.exceptions import AwsCallFailed

IN_SERVICE = "InService"
STANDBY = "Standby"
ENTERING_STANDBY = "EnteringStandby"
DESCRIBE_INSTANCES_PAGE = 50  # DescribeAutoScalingInstances takes at most 50 ids
# Scaling activities that have not finished (anything else is Successful, Failed or Cancelled).
FINISHED_ACTIVITY = frozenset({"Successful", "Failed", "Cancelled"})
RUNNING_REFRESH = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})


@dataclass(frozen=True)
class Membership:
    group: str
    lifecycle_state: str
    health_status: str


@dataclass(frozen=True)
class GroupSize:
    name: str
    min_size: int
    max_size: int
    desired: int
    target_group_arns: tuple[str, ...]


def memberships(instance_ids: Iterable[str]) -> dict[str, Membership]:
    """instance id -> its Auto Scaling membership; instances in no group are absent."""
    ids = sorted(set(instance_ids))
    found: dict[str, Membership] = {}
    for start in range(0, len(ids), DESCRIBE_INSTANCES_PAGE):
        page = ids[start:start + DESCRIBE_INSTANCES_PAGE]
        with aws_call("DescribeAutoScalingInstances"):
            items = [item for answer in client("autoscaling").get_paginator("describe_auto_scaling_instances")
                     .paginate(InstanceIds=page) for item in answer.get("AutoScalingInstances", [])]
        for item in items:
            found[item["InstanceId"]] = Membership(item["AutoScalingGroupName"], item.get("LifecycleState", ""),
                                                   item.get("HealthStatus", ""))
    return found


def membership(instance_id: str) -> Membership | None:
    return memberships([instance_id]).get(instance_id)


def group_size(name: str) -> GroupSize:
    # One name answers at most one group: one page is all there is.
    with aws_call(f"DescribeAutoScalingGroups {name}"):
        response = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    groups = response.get("AutoScalingGroups", [])
    if not groups:
        raise AwsCallFailed(f"DescribeAutoScalingGroups {name}: no such Auto Scaling group")
    group = groups[0]
    return GroupSize(name, int(group["MinSize"]), int(group["MaxSize"]), int(group["DesiredCapacity"]),
                     tuple(group.get("TargetGroupARNs", [])))


def enter_standby(name: str, instance_id: str, decrement: bool) -> None:
    with aws_call(f"EnterStandby {instance_id}"):
        client("autoscaling").enter_standby(AutoScalingGroupName=name, InstanceIds=[instance_id],
                                            ShouldDecrementDesiredCapacity=decrement)


def exit_standby(name: str, instance_id: str) -> None:
    with aws_call(f"ExitStandby {instance_id}"):
        client("autoscaling").exit_standby(AutoScalingGroupName=name, InstanceIds=[instance_id])


def mark_unhealthy(instance_id: str) -> None:
    """The ASG terminates and replaces it (the grace period is for new instances, not this one)."""
    with aws_call(f"SetInstanceHealth {instance_id}"):
        client("autoscaling").set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy",
                                                  ShouldRespectGracePeriod=False)


def activity_in_progress(name: str) -> list[str]:
    """Descriptions of unfinished scaling activities and running instance refreshes of the group."""
    busy: list[str] = []
    # One page: "Activities still in progress are described first" (DescribeScalingActivities,
    # https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html), so if any is
    # unfinished the newest 20 show it; the group is busy whatever the rest says.
    with aws_call(f"DescribeScalingActivities {name}"):
        activities = client("autoscaling").describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=20)
    for activity in activities.get("Activities", []):
        if activity.get("StatusCode") not in FINISHED_ACTIVITY:
            busy.append(f"scaling activity: {activity.get('Description', '?')} ({activity.get('StatusCode')})")
    for refresh in _instance_refreshes(name):
        if refresh.get("Status") in RUNNING_REFRESH:
            busy.append(f"instance refresh {refresh.get('InstanceRefreshId', '?')} ({refresh.get('Status')})")
    return busy


def _instance_refreshes(name: str) -> list[dict[str, Any]]:
    """Every page: AWS does not document the order of the refreshes (six weeks of them), so a running one may
    be on any page. botocore has no paginator for DescribeInstanceRefreshes: NextToken is followed here."""
    refreshes: list[dict[str, Any]] = []
    request: dict[str, Any] = {"AutoScalingGroupName": name}
    while True:
        with aws_call(f"DescribeInstanceRefreshes {name}"):
            page = client("autoscaling").describe_instance_refreshes(**request)
        refreshes += page.get("InstanceRefreshes", [])
        if not page.get("NextToken"):
            return refreshes
        request["NextToken"] = page["NextToken"]


# -- termination lifecycle hooks (the termination drain, statemachine/drain.asl.json) ---------------------------

TERMINATING_PREFIX = "Terminating"  # Terminating, Terminating:Wait, Terminating:Proceed
# The termination lifecycle hook Nightshift serves (docs/deploy.md). A group may have other termination hooks
# (Auto Scaling sends one event per hook): their actions belong to whoever owns them, never completed by us.
DRAIN_HOOK_NAME = "nightshift-drain"
# A lifecycle hook's GlobalTimeout: "The maximum is 172800 seconds (48 hours) or 100 times HeartbeatTimeout,
# whichever is smaller." https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html
GLOBAL_TIMEOUT_MAX = 172800
DEFAULT_HEARTBEAT = 3600  # PutLifecycleHook's default HeartbeatTimeout


@dataclass(frozen=True)
class Hook:
    heartbeat_seconds: int
    global_timeout_seconds: int


def lifecycle_hook(group: str, hook: str) -> Hook:
    """The hook's HeartbeatTimeout and GlobalTimeout (DescribeLifecycleHooks)."""
    with aws_call(f"DescribeLifecycleHooks {group} {hook}"):
        found = client("autoscaling").describe_lifecycle_hooks(
            AutoScalingGroupName=group, LifecycleHookNames=[hook]).get("LifecycleHooks", [])
    if not found:
        raise AwsCallFailed(f"DescribeLifecycleHooks {group}: no lifecycle hook {hook}")
    heartbeat = int(found[0].get("HeartbeatTimeout") or DEFAULT_HEARTBEAT)
    bound = min(GLOBAL_TIMEOUT_MAX, 100 * heartbeat)
    return Hook(heartbeat, int(found[0].get("GlobalTimeout") or bound))


NO_ACTIVE_ACTION = "No active Lifecycle Action found"


def record_heartbeat(group: str, hook: str, token: str | None, instance_id: str) -> bool:
    """Restart the hook's heartbeat timeout (RecordLifecycleActionHeartbeat). False when the action is no longer
    active (completed, or timed out: the instance is going now); any other refusal raises."""
    params: dict[str, Any] = {"AutoScalingGroupName": group, "LifecycleHookName": hook, "InstanceId": instance_id}
    if token:
        params["LifecycleActionToken"] = token
    try:
        with aws_call(f"RecordLifecycleActionHeartbeat {instance_id}"):
            client("autoscaling").record_lifecycle_action_heartbeat(**params)
    except AwsCallFailed as exc:
        if NO_ACTIVE_ACTION.lower() in str(exc).lower():
            return False
        raise
    return True


def complete_lifecycle_action(group: str, hook: str, token: str | None, instance_id: str) -> bool:
    """CompleteLifecycleAction CONTINUE. False when the action is no longer active (completed before, by a retry
    or a duplicate, or timed out: the instance is going either way); any other refusal raises."""
    params: dict[str, Any] = {"AutoScalingGroupName": group, "LifecycleHookName": hook, "InstanceId": instance_id,
                              "LifecycleActionResult": "CONTINUE"}
    if token:
        params["LifecycleActionToken"] = token
    try:
        with aws_call(f"CompleteLifecycleAction {instance_id}"):
            client("autoscaling").complete_lifecycle_action(**params)
    except AwsCallFailed as exc:
        if NO_ACTIVE_ACTION.lower() in str(exc).lower():
            return False
        raise
    return True
