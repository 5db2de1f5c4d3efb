"""The approach Nightshift replaces, re-implemented as the seed describes it. For the benchmark only.

One Lambda function (128 MB assumed; the seed does not say) that, on each run:

1. lists the targets of both target groups (one ``DescribeTargetHealth`` per target group);
2. for every instance: ``DescribeInstances`` to learn its ImageId and InstanceType (the CloudWatch agent
   publishes ``mem_used_percent`` with the dimensions InstanceId, ImageId and InstanceType, and CloudWatch
   only matches a metric on its exact dimension set), then ``GetMetricStatistics`` for its memory;
3. picks the instance with the highest memory above 65 %;
4. checks that more than 5 hosts are healthy (in every target group);
5. deregisters it from both target groups, sleeps the deregistration delay, reboots it, sleeps 120 s,
   and registers it again. It never checks that the reboot happened or that the instance is healthy.

It is written the way the seed is: sequential calls, ``time.sleep`` inside the handler. Two module
attributes are its only concessions to the bench: ``sleep`` and ``now`` (the bench swaps in its virtual
clock, so a 300 s sleep costs no real time but is billed as Lambda time), and ``phase`` (a no-op that
tells the bench's API meter where selection ends). Instances are deduplicated across the two target
groups, which is kinder to the baseline than iterating both lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

MEMORY_THRESHOLD_PERCENT = 65.0
MIN_HEALTHY_HOSTS = 5  # "more than 5 healthy hosts"
BOOT_SLEEP_SECONDS = 120
METRIC_WINDOW_SECONDS = 300
METRIC_PERIOD_SECONDS = 60
LAMBDA_MEMORY_MB = 128  # assumed for the cost model: the seed does not state its memory size
LAMBDA_TIMEOUT_SECONDS = 900  # Lambda's hard limit

sleep: Callable[[float], None] = time.sleep
now: Callable[[], float] = time.time
phase: Callable[[str], None] = lambda _name: None  # noqa: E731 - an instrumentation point, no-op by default


def _memory_percent(cloudwatch: Any, instance: dict[str, Any]) -> float | None:
    end = now()
    response = cloudwatch.get_metric_statistics(
        Namespace="CWAgent",
        MetricName="mem_used_percent",
        Dimensions=[
            {"Name": "InstanceId", "Value": instance["InstanceId"]},
            {"Name": "ImageId", "Value": instance["ImageId"]},
            {"Name": "InstanceType", "Value": instance["InstanceType"]},
        ],
        StartTime=datetime.fromtimestamp(end - METRIC_WINDOW_SECONDS, UTC),
        EndTime=datetime.fromtimestamp(end, UTC),
        Period=METRIC_PERIOD_SECONDS,
        Statistics=["Average"],
    )
    datapoints = sorted(response.get("Datapoints", []), key=lambda d: d["Timestamp"])
    return float(datapoints[-1]["Average"]) if datapoints else None


def select_instance(elbv2: Any, ec2: Any, cloudwatch: Any, target_group_arns: list[str],
                    ) -> tuple[str | None, float | None, dict[str, list[dict[str, Any]]]]:
    targets = {arn: elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
               for arn in target_group_arns}
    instance_ids = sorted({d["Target"]["Id"] for descriptions in targets.values() for d in descriptions})
    worst, worst_value = None, None
    for instance_id in instance_ids:
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        value = _memory_percent(cloudwatch, instance)
        if value is not None and value > MEMORY_THRESHOLD_PERCENT and (worst_value is None or value > worst_value):
            worst, worst_value = instance_id, value
    return worst, worst_value, targets


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    target_group_arns: list[str] = event["target_group_arns"]
    delay: int = event["deregistration_delay"]
    elbv2 = boto3.client("elbv2")
    ec2 = boto3.client("ec2")
    cloudwatch = boto3.client("cloudwatch")

    phase("select")
    instance_id, value, targets = select_instance(elbv2, ec2, cloudwatch, target_group_arns)
    phase("remediate")
    if instance_id is None:
        return {"action": "nothing_to_do"}
    for arn, descriptions in targets.items():
        healthy = sum(1 for d in descriptions if d["TargetHealth"]["State"] == "healthy")
        if not healthy > MIN_HEALTHY_HOSTS:
            return {"action": "skipped", "reason": f"only {healthy} healthy hosts in {arn}"}

    ports = {arn: next(d["Target"].get("Port") for d in descriptions if d["Target"]["Id"] == instance_id)
             for arn, descriptions in targets.items()}
    for arn in target_group_arns:
        elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    sleep(delay)
    ec2.reboot_instances(InstanceIds=[instance_id])
    sleep(BOOT_SLEEP_SECONDS)
    for arn in target_group_arns:
        target: dict[str, Any] = {"Id": instance_id}
        if ports[arn] is not None:
            target["Port"] = ports[arn]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[target])
    return {"action": "rebooted", "instance_id": instance_id, "memory_percent": value}
