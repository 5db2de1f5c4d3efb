"""A simulated fleet in moto, seen only through real boto3 calls (plus the simulator's introspection)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from nightshift.runtime.clock import VirtualClock
from nightshift.runtime.interceptor import Interceptor
from nightshift.sim import BuiltFleet, FleetSimulator, FleetSpec
from steps.aws.ssm import connections_script

# A round epoch (a multiple of 3600) so metric periods line up with build time in assertions.
T0 = 1_700_002_800.0


@dataclass
class World:
    clock: VirtualClock
    sim: FleetSimulator
    fleet: BuiltFleet
    interceptor: Interceptor
    elbv2: Any
    ec2: Any
    ssm: Any
    cloudwatch: Any
    autoscaling: Any

    @property
    def https(self) -> str:
        return self.fleet.target_group_arns[0]

    @property
    def http(self) -> str:
        return self.fleet.target_group_arns[1]

    def instance(self, index: int) -> str:
        return self.fleet.instance_ids[index]

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def health(self, tg_arn: str, *instance_ids: str) -> dict[str, dict[str, Any]]:
        """instance id -> TargetHealth, through a real DescribeTargetHealth call."""
        kwargs: dict[str, Any] = {"TargetGroupArn": tg_arn}
        if instance_ids:
            kwargs["Targets"] = [{"Id": i} for i in instance_ids]
        response = self.elbv2.describe_target_health(**kwargs)
        return {d["Target"]["Id"]: d["TargetHealth"] for d in response["TargetHealthDescriptions"]}

    def state(self, tg_arn: str, instance_id: str) -> str:
        return str(self.health(tg_arn, instance_id)[instance_id]["State"])

    def deregister(self, instance_id: str) -> None:
        for arn in self.fleet.target_group_arns:
            self.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])

    def register(self, instance_id: str) -> None:
        for arn in self.fleet.target_group_arns:
            self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])

    def send(self, instance_id: str, comment: str, timeout: int | None = None) -> str:
        commands = ["true"]
        owner = self.sim.owner_of(instance_id)
        if comment == "nightshift:connections" and owner is not None:
            # the workflow's own script: the simulator evaluates its ss filter
            commands = connections_script(owner[1].service_ports())
        kwargs: dict[str, Any] = {"InstanceIds": [instance_id], "DocumentName": "AWS-RunShellScript",
                                  "Comment": comment, "Parameters": {"commands": commands}}
        if timeout is not None:
            kwargs["TimeoutSeconds"] = timeout
        return str(self.ssm.send_command(**kwargs)["Command"]["CommandId"])

    def invocation(self, command_id: str, instance_id: str) -> dict[str, Any]:
        response: dict[str, Any] = self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        return response

    def ask(self, instance_id: str, comment: str) -> int:
        """Send a command, let it run, and return its integer output."""
        command_id = self.send(instance_id, comment)
        self.advance(self.sim.spec.command_run_seconds)
        result = self.invocation(command_id, instance_id)
        assert result["Status"] == "Success", result
        return int(result["StandardOutputContent"])

    def metric(self, instance_id: str, name: str, seconds_back: float, period: int, stat: str = "Average",
               scan_by: str = "TimestampAscending") -> list[tuple[float, float]]:
        """(epoch, value) datapoints of one agent metric in [now - seconds_back, now], in ``scan_by`` order."""
        end = datetime.fromtimestamp(self.clock.now() + 1, tz=UTC)
        response = self.cloudwatch.get_metric_data(
            MetricDataQueries=[metric_query("q", instance_id, name, period, stat,
                                            self.sim.agent_dimensions(instance_id))],
            StartTime=end - timedelta(seconds=seconds_back + 1), EndTime=end, ScanBy=scan_by,
        )
        result = response["MetricDataResults"][0]
        return [(ts.timestamp(), value) for ts, value in zip(result["Timestamps"], result["Values"], strict=True)]


def metric_query(query_id: str, instance_id: str, name: str, period: int, stat: str = "Average",
                 dimensions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """One agent-metric query; ``dimensions`` is the complete set (default: InstanceId alone). CloudWatch
    matches the exact set, so pass ``sim.agent_dimensions(instance_id)`` to read what the agent publishes."""
    dimensions = dimensions if dimensions is not None else [{"Name": "InstanceId", "Value": instance_id}]
    return {"Id": query_id, "MetricStat": {
        "Metric": {"Namespace": "CWAgent", "MetricName": name, "Dimensions": dimensions},
        "Period": period, "Stat": stat}}


MakeWorld = Callable[..., World]


@contextmanager
def simulated_world(session: boto3.session.Session, spec: FleetSpec | None = None,
                    start: float = T0) -> Iterator[World]:
    """Build a fleet from a FleetSpec inside mock_aws, install it, then create the clients (in that order:
    botocore copies the session's event hooks into a client when the client is created)."""
    with mock_aws():
        clock = VirtualClock(start=start)
        sim = FleetSimulator(spec or FleetSpec(), clock.now)
        fleet = sim.build()
        # Other test packages replace the default session; the clients below must come from this one.
        boto3.DEFAULT_SESSION = session
        interceptor = Interceptor(session.events)
        sim.install(interceptor)
        try:
            yield World(clock, sim, fleet, interceptor, boto3.client("elbv2"), boto3.client("ec2"),
                        boto3.client("ssm"), boto3.client("cloudwatch"), boto3.client("autoscaling"))
        finally:
            interceptor.uninstall()
