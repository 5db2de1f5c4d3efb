"""Target groups: who is registered, in which state, and (de)registration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from steps.aws.clients import client
from steps.aws.errors import aws_call

# ELBv2 answers a target that is not registered as `unused`; we treat that as gone.
GONE_STATES = frozenset({"unused"})
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
CROSS_ZONE = "load_balancing.cross_zone.enabled"


def target_states(target_group_arn: str, instance_ids: Iterable[str] | None = None) -> dict[str, str]:
    """instance id -> target health state in one target group (one DescribeTargetHealth call)."""
    kwargs: dict[str, object] = {"TargetGroupArn": target_group_arn}
    ids = list(instance_ids or [])
    if ids:
        kwargs["Targets"] = [{"Id": i} for i in ids]
    with aws_call(f"DescribeTargetHealth {target_group_arn}"):
        response = client("elbv2").describe_target_health(**kwargs)
    states: dict[str, str] = {}
    for description in response.get("TargetHealthDescriptions", []):
        target_id = description["Target"]["Id"]
        state = description.get("TargetHealth", {}).get("State", "unavailable")
        if state in GONE_STATES:
            continue
        states[target_id] = state
    return states


def target_health(target_group_arn: str) -> dict[str, tuple[str, str | None]]:
    """instance id -> (state, reason code) in one target group (one unfiltered DescribeTargetHealth); ``unused``
    left out. An instance registered on two ports keeps its worst registration: unhealthy before the rest."""
    with aws_call(f"DescribeTargetHealth {target_group_arn}"):
        response = client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
    found: dict[str, tuple[str, str | None]] = {}
    for description in response.get("TargetHealthDescriptions", []):
        health = description.get("TargetHealth", {})
        state = str(health.get("State", "unavailable"))
        if state in GONE_STATES:
            continue
        target_id = description["Target"]["Id"]
        if target_id not in found or state == "unhealthy":
            found[target_id] = (state, health.get("Reason"))
    return found


@dataclass(frozen=True)
class Registration:
    """One entry of DescribeTargetHealth: a target is (Id, Port), so an instance registered on two ports has two."""

    target_id: str
    port: int | None
    state: str
    reason: str | None


def describe_all(target_group_arn: str) -> list[Registration]:
    """Every registration in one target group, ``unused`` included, from one DescribeTargetHealth without
    ``Targets``: "Describes the health of the specified targets or all of your targets"; the API takes no page
    token and returns no NextMarker (it does not paginate).
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetHealth.html"""
    with aws_call(f"DescribeTargetHealth {target_group_arn}"):
        response = client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
    found = []
    for description in response.get("TargetHealthDescriptions", []):
        target = description["Target"]
        health = description.get("TargetHealth", {})
        reason = health.get("Reason")
        found.append(Registration(str(target["Id"]), int(target["Port"]) if "Port" in target else None,
                                  str(health.get("State", "unavailable")), str(reason) if reason else None))
    return found


def group_target_health(target_group_arns: Iterable[str]) -> dict[str, dict[str, tuple[str, str | None]]]:
    """target group ARN -> {instance id -> (state, reason code)}."""
    return {arn: target_health(arn) for arn in target_group_arns}


def group_target_states(target_group_arns: Iterable[str], instance_ids: Iterable[str] | None = None,
                        ) -> dict[str, dict[str, str]]:
    """target group ARN -> {instance id -> state}; a target absent from a group is not registered there."""
    ids = list(instance_ids or [])
    return {arn: target_states(arn, ids) for arn in target_group_arns}


def registrations_of(target_group_arn: str, instance_id: str) -> list[str]:
    """The states of every registration of ``instance_id`` in a target group (one per port; ``unused`` left out),
    from one unfiltered DescribeTargetHealth: a Targets filter would name a port, and asking an IP or Lambda
    target group (or another VPC's) about an instance id is an InvalidTarget error."""
    with aws_call(f"DescribeTargetHealth {target_group_arn}"):
        response = client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
    return [str(d.get("TargetHealth", {}).get("State", "unavailable"))
            for d in response.get("TargetHealthDescriptions", [])
            if d["Target"]["Id"] == instance_id and d.get("TargetHealth", {}).get("State") not in GONE_STATES]


def target_ports(target_group_arn: str, instance_id: str) -> list[int]:
    """The ports an instance is registered on (usually one), so re-registration restores them exactly."""
    with aws_call(f"DescribeTargetHealth {target_group_arn}"):
        response = client("elbv2").describe_target_health(
            TargetGroupArn=target_group_arn, Targets=[{"Id": instance_id}]
        )
    ports = []
    for description in response.get("TargetHealthDescriptions", []):
        state = description.get("TargetHealth", {}).get("State")
        if state not in GONE_STATES and "Port" in description["Target"]:
            ports.append(int(description["Target"]["Port"]))
    return ports


def deregistration_delay(target_group_arn: str) -> int:
    with aws_call(f"DescribeTargetGroupAttributes {target_group_arn}"):
        response = client("elbv2").describe_target_group_attributes(TargetGroupArn=target_group_arn)
    for attribute in response.get("Attributes", []):
        if attribute["Key"] == DEREGISTRATION_DELAY:
            return int(attribute["Value"])
    return 300  # AWS's documented default


def target_group_attributes(target_group_arn: str) -> dict[str, str]:
    """Every attribute of one target group (one DescribeTargetGroupAttributes: the API takes one target group)."""
    with aws_call(f"DescribeTargetGroupAttributes {target_group_arn}"):
        response = client("elbv2").describe_target_group_attributes(TargetGroupArn=target_group_arn)
    return {str(a["Key"]): str(a["Value"]) for a in response.get("Attributes", [])}


def target_group_protocols(target_group_arns: Iterable[str]) -> dict[str, tuple[str | None, list[str]]]:
    """target group ARN -> (Protocol, its load balancers' ARNs), from one DescribeTargetGroups."""
    arns = list(target_group_arns)
    with aws_call("DescribeTargetGroups " + ", ".join(arns)):
        response = client("elbv2").describe_target_groups(TargetGroupArns=arns)
    return {str(g["TargetGroupArn"]): (g.get("Protocol"), [str(a) for a in g.get("LoadBalancerArns", [])])
            for g in response.get("TargetGroups", [])}


def load_balancer_cross_zone(load_balancer_arn: str) -> bool:
    """The load balancer's ``load_balancing.cross_zone.enabled`` (one DescribeLoadBalancerAttributes); absent
    reads as AWS's default for a Network Load Balancer, off."""
    with aws_call(f"DescribeLoadBalancerAttributes {load_balancer_arn}"):
        response = client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=load_balancer_arn)
    for attribute in response.get("Attributes", []):
        if attribute["Key"] == CROSS_ZONE:
            return str(attribute["Value"]).lower() == "true"
    return False


def deregister(target_group_arn: str, instance_id: str, port: int | None) -> None:
    """DeregisterTargets naming the port the instance is registered on. A target registered with a port
    override must be deregistered with that port, and a target that does not exist is "deregistered"
    successfully, so without the port the call would succeed and change nothing.
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeregisterTargets.html"""
    target: dict[str, object] = {"Id": instance_id}
    if port is not None:
        target["Port"] = port
    with aws_call(f"DeregisterTargets {instance_id}" + (f":{port}" if port is not None else "")
                  + f" from {target_group_arn}"):
        client("elbv2").deregister_targets(TargetGroupArn=target_group_arn, Targets=[target])


def register(target_group_arn: str, instance_id: str, port: int | None = None) -> None:
    target: dict[str, object] = {"Id": instance_id}
    if port is not None:
        target["Port"] = port
    with aws_call(f"RegisterTargets {instance_id} in {target_group_arn}"):
        client("elbv2").register_targets(TargetGroupArn=target_group_arn, Targets=[target])


@dataclass(frozen=True)
class HealthCheckSettings:
    interval_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


# DescribeTargetGroups takes a list of TargetGroupArns and pages its answer (Marker / NextMarker, PageSize at most
# 400); its API reference documents no limit on the list, so we send at most this many per call.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetGroups.html
DESCRIBE_TARGET_GROUPS_BATCH = 20


def health_check_settings(target_group_arns: Iterable[str]) -> dict[str, HealthCheckSettings]:
    """target group ARN -> its health check interval and thresholds (DescribeTargetGroups, batched, every page).
    A target group missing from the answer is missing here (the caller treats it as unknown)."""
    arns = sorted(set(target_group_arns))
    found: dict[str, HealthCheckSettings] = {}
    for at in range(0, len(arns), DESCRIBE_TARGET_GROUPS_BATCH):
        batch = arns[at:at + DESCRIBE_TARGET_GROUPS_BATCH]
        kwargs: dict[str, object] = {"TargetGroupArns": batch}
        while True:
            with aws_call(f"DescribeTargetGroups {', '.join(batch)}"):
                response = client("elbv2").describe_target_groups(**kwargs)
            for group in response.get("TargetGroups", []):
                interval = group.get("HealthCheckIntervalSeconds")
                healthy, unhealthy = group.get("HealthyThresholdCount"), group.get("UnhealthyThresholdCount")
                if interval is not None and healthy is not None and unhealthy is not None:
                    found[str(group["TargetGroupArn"])] = HealthCheckSettings(int(interval), int(healthy),
                                                                              int(unhealthy))
            marker = response.get("NextMarker")
            if not marker:
                break
            kwargs["Marker"] = marker
    return found
