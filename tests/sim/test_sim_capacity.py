"""The capacity timeline (every instant serving capacity changed), call accounting, several fleets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from nightshift.sim import FleetSimulator, FleetSpec, InstanceSpec
from tests.harness import T0, MakeWorld, World, metric_query


def remediate(world: World, instance_id: str) -> None:
    """What the workflow does to one instance, by hand: drain, reboot, wait for boot, register, wait."""
    world.deregister(instance_id)
    world.advance(300)
    world.ec2.reboot_instances(InstanceIds=[instance_id])
    world.advance(120)
    world.register(instance_id)
    world.advance(60)


def test_the_timeline_records_the_dip_of_one_remediation(world: World) -> None:
    # GIVEN a fleet of 12 in two target groups
    victim = world.instance(5)
    # WHEN one instance is drained, rebooted and registered again
    remediate(world, victim)
    timeline = world.sim.capacity_timeline()
    # THEN capacity dipped to 11 in each group exactly while it was out, and came back to 12
    # (as built; deregistered; drain over; OS down; OS up; registered; healthy 30 s later)
    assert [p.time - T0 for p in timeline] == [0, 0, 300, 305, 365, 420, 450]
    assert [p.healthy[world.https] for p in timeline] == [12, 11, 11, 11, 11, 11, 12]
    assert [p.healthy[world.http] for p in timeline] == [12, 11, 11, 11, 11, 11, 12]
    assert [sorted(p.out_of_service) for p in timeline] == [[], *[[victim]] * 5, []]
    assert [sorted(p.down) for p in timeline] == [[], [], [], [victim], [], [], []]
    assert world.sim.min_healthy_seen(world.https) == 11


def test_a_rolling_remediation_never_has_two_instances_out_of_service(make_world: MakeWorld) -> None:
    # GIVEN a small fleet remediated one instance at a time
    world = make_world(FleetSpec(size=4, leaking={}))
    for instance_id in world.fleet.instance_ids:
        remediate(world, instance_id)
    # WHEN the whole timeline is inspected
    timeline = world.sim.capacity_timeline()
    # THEN at every instant at most one instance was out, and never fewer than 3 healthy per group
    assert max(len(p.out_of_service) for p in timeline) == 1
    assert world.sim.min_healthy_seen(world.https) == 3
    assert world.sim.min_healthy_seen(world.http) == 3
    assert timeline[-1].healthy == {world.https: 4, world.http: 4}


def test_an_overlapping_remediation_shows_two_out_at_once(world: World) -> None:
    # GIVEN two instances drained 100 s apart (a workflow without a group lock would do this)
    world.deregister(world.instance(0))
    world.advance(100)
    world.deregister(world.instance(1))
    # WHEN the timeline is inspected
    timeline = world.sim.capacity_timeline()
    # THEN the second drain shows both out of service and capacity at 10
    assert max(len(p.out_of_service) for p in timeline) == 2
    assert world.sim.min_healthy_seen(world.https) == 10


def test_every_simulated_call_is_counted(world: World) -> None:
    # GIVEN one remediation by hand
    remediate(world, world.instance(2))
    world.health(world.https)
    # WHEN the call counts are read
    calls = world.sim.api_calls()
    # THEN each operation was counted per call
    assert calls["elbv2.DeregisterTargets"] == 2
    assert calls["elbv2.RegisterTargets"] == 2
    assert calls["ec2.RebootInstances"] == 1
    assert calls["elbv2.DescribeTargetHealth"] == 1


def test_two_fleets_on_one_interceptor_answer_as_one_world(world: World) -> None:
    # GIVEN a second fleet installed on the same interceptor after the first
    api = FleetSimulator(FleetSpec(name="api", size=3, leaking={1: InstanceSpec(leak_to_percent=90.0)}),
                         world.clock.now)
    api_fleet = api.build()
    api.install(world.interceptor)
    ec2, ssm, cloudwatch = (boto3.client(s) for s in ("ec2", "ssm", "cloudwatch"))  # clients see both fleets
    web_id, api_id = world.instance(0), api_fleet.instance_ids[1]
    # WHEN one call reboots an instance of each, and commands and metrics address the second fleet
    ec2.reboot_instances(InstanceIds=[web_id, api_id])
    command_id = ssm.send_command(InstanceIds=[api_id], DocumentName="AWS-RunShellScript",
                                  Comment="nightshift:boot-time", Parameters={"commands": ["true"]},
                                  )["Command"]["CommandId"]
    world.advance(1)
    end = datetime.fromtimestamp(world.clock.now(), tz=UTC)
    results = cloudwatch.get_metric_data(
        MetricDataQueries=[metric_query("web", web_id, "mem_used_percent", 60, "Average",
                                        world.sim.agent_dimensions(web_id)),
                           metric_query("api", api_id, "mem_used_percent", 60, "Average",
                                        api.agent_dimensions(api_id))],
        StartTime=end - timedelta(minutes=2), EndTime=end)["MetricDataResults"]
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=api_id)
    # THEN each fleet recorded its own reboot, and answers came from the fleet that owns the instance
    assert world.sim.reboot_requests(web_id) == [T0]
    assert api.reboot_requests(api_id) == [T0]
    assert (invocation["Status"], invocation["StandardOutputContent"]) == ("Success", f"{int(T0)}\n")
    # (StartTime T0 - 119 s rounds down to the minute: three one-minute periods, of which the newest,
    # sampled at T0, is not readable yet: the 60 s ingestion delay)
    assert results[1]["Values"] == [90.0, 90.0]
    assert len(results[0]["Values"]) == 2 and max(results[0]["Values"]) <= 55
    # AND each fleet counts the calls that concern it
    assert (world.sim.api_calls()["ec2.RebootInstances"], api.api_calls()["ec2.RebootInstances"]) == (1, 1)
    assert (world.sim.api_calls()["ssm.SendCommand"], api.api_calls()["ssm.SendCommand"]) == (0, 1)
    assert (world.sim.api_calls()["cloudwatch.GetMetricData"], api.api_calls()["cloudwatch.GetMetricData"]) == (1, 1)
