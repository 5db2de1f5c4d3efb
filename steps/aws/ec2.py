"""EC2: reboot, status checks, launch times, and the placement facts capacity arithmetic needs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from steps.aws.clients import client
from steps.aws.errors import aws_call

DESCRIBE_INSTANCES_PAGE = 1000  # InstanceIds per DescribeInstances call


def reboot(instance_id: str) -> None:
    with aws_call(f"RebootInstances {instance_id}"):
        client("ec2").reboot_instances(InstanceIds=[instance_id])


def stop_instance(instance_id: str) -> None:
    with aws_call(f"StopInstances {instance_id}"):
        client("ec2").stop_instances(InstanceIds=[instance_id])


def start_instance(instance_id: str) -> None:
    with aws_call(f"StartInstances {instance_id}"):
        client("ec2").start_instances(InstanceIds=[instance_id])


def power(instance_id: str) -> tuple[str, bool, str]:
    """(EC2 state name, both status checks ok, a human description of what was seen)."""
    # One id, no MaxResults: one page ("You cannot specify this parameter and the instance IDs parameter in the
    # same request", DescribeInstanceStatus MaxResults).
    with aws_call(f"DescribeInstanceStatus {instance_id}"):
        response = client("ec2").describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
    statuses = response.get("InstanceStatuses", [])
    if not statuses:
        return "unknown", False, "no status reported yet"
    status = statuses[0]
    state = status.get("InstanceState", {}).get("Name", "unknown")
    instance = status.get("InstanceStatus", {}).get("Status", "unknown")
    system = status.get("SystemStatus", {}).get("Status", "unknown")
    ok = state == "running" and instance == "ok" and system == "ok"
    return state, ok, f"state={state} instance-status={instance} system-status={system}"


def status_ok(instance_id: str) -> tuple[bool, str]:
    """(both status checks ok, a human description of what was seen)."""
    _, ok, seen = power(instance_id)
    return ok, seen


def _impaired_since(summary: dict[str, Any]) -> float | None:
    """The earliest ImpairedSince of a status summary's details (epoch seconds), or None."""
    times = [d["ImpairedSince"].timestamp() for d in summary.get("Details", []) if d.get("ImpairedSince")]
    return min(times) if times else None


def status_checks(instance_ids: Iterable[str]) -> dict[str, tuple[str, float | None, str, float | None]]:
    """Running instance id -> (instance status, its ImpairedSince, system status, its ImpairedSince), from
    DescribeInstanceStatus in batches of 100 ids (without IncludeAllInstances it lists running instances only).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceStatus.html"""
    ids = sorted(set(instance_ids))
    found: dict[str, tuple[str, float | None, str, float | None]] = {}
    for start in range(0, len(ids), 100):
        batch = ids[start:start + 100]
        with aws_call(f"DescribeInstanceStatus {len(batch)} instances"):
            pages = client("ec2").get_paginator("describe_instance_status").paginate(InstanceIds=batch)
            for page in pages:
                for status in page.get("InstanceStatuses", []):
                    instance = status.get("InstanceStatus", {})
                    system = status.get("SystemStatus", {})
                    found[status["InstanceId"]] = (str(instance.get("Status", "ok")), _impaired_since(instance),
                                                   str(system.get("Status", "ok")), _impaired_since(system))
    return found


def instance_tags(instance_id: str) -> dict[str, str]:
    with aws_call(f"DescribeTags {instance_id}"):
        pages = client("ec2").get_paginator("describe_tags").paginate(
            Filters=[{"Name": "resource-id", "Values": [instance_id]}])
        return {t["Key"]: t["Value"] for page in pages for t in page.get("Tags", [])}


def _described(instance_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each instance DescribeInstances returns for ``instance_ids``, in requests of up to 1000 ids, every page."""
    ids = sorted(set(instance_ids))
    for start in range(0, len(ids), DESCRIBE_INSTANCES_PAGE):
        page = ids[start:start + DESCRIBE_INSTANCES_PAGE]
        with aws_call("DescribeInstances"):
            reservations = [r for answer in client("ec2").get_paginator("describe_instances").paginate(InstanceIds=page)
                            for r in answer.get("Reservations", [])]
        for reservation in reservations:
            yield from reservation.get("Instances", [])


def availability_zones(instance_ids: Iterable[str]) -> dict[str, str]:
    """instance id -> AZ, in pages of 1000 ids."""
    return {instance["InstanceId"]: instance.get("Placement", {}).get("AvailabilityZone", "unknown")
            for instance in _described(instance_ids)}


def launch_times(instance_ids: Iterable[str]) -> dict[str, float]:
    """instance id -> its LaunchTime (epoch seconds), in pages of 1000 ids; an instance without one is left out.
    "The time that the instance was last launched": a start after a stop renews it, a reboot does not.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html"""
    return {instance["InstanceId"]: instance["LaunchTime"].timestamp()
            for instance in _described(instance_ids) if instance.get("LaunchTime") is not None}


def stop_facts(instance_id: str) -> tuple[str | None, str | None]:
    """(RootDeviceType, InstanceLifecycle) of the instance; (None, None) when EC2 does not know it (gone).

    An instance-store root cannot be stopped (StopInstances: UnsupportedOperation), only terminated:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StopInstances.html. InstanceLifecycle is "spot"
    for a Spot Instance, absent for On-Demand
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html): "You can only stop a Spot
    Instance if it was launched from a persistent Spot Instance request"
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-instances-request.html#stopping-a-spot-instance)."""
    with aws_call(f"DescribeInstances {instance_id}"):
        answer = client("ec2").describe_instances(InstanceIds=[instance_id])
    for reservation in answer.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            root, lifecycle = instance.get("RootDeviceType"), instance.get("InstanceLifecycle")
            return (str(root) if root else None), (str(lifecycle) if lifecycle else None)
    return None, None
