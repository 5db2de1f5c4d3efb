"""The fleet's Auto Scaling group: Standby that waits for the drain, health-driven replacement, activities."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import AutoScalingSpec, FleetSpec
from tests.harness import T0, MakeWorld, World

# 4 instances, delay 300 s, healthy after 30 s; replacements InService 90 s after launch, terminated 30 s
# after their drain.
SIZE = 4


def asg_world(make_world: MakeWorld, **asg: Any) -> World:
    return make_world(FleetSpec(name="web", size=SIZE, leaking={}, auto_scaling=AutoScalingSpec(**asg)))


def lifecycle(world: World, instance_id: str) -> str | None:
    found = world.autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    return str(found[0]["LifecycleState"]) if found else None


def group(world: World) -> dict[str, Any]:
    response = world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[world.fleet.auto_scaling_group])
    described: dict[str, Any] = response["AutoScalingGroups"][0]
    return described


def enter(world: World, instance_id: str, decrement: bool) -> dict[str, Any]:
    response: dict[str, Any] = world.autoscaling.enter_standby(
        AutoScalingGroupName=world.fleet.auto_scaling_group, InstanceIds=[instance_id],
        ShouldDecrementDesiredCapacity=decrement)
    return response


def leave(world: World, instance_id: str) -> dict[str, Any]:
    response: dict[str, Any] = world.autoscaling.exit_standby(AutoScalingGroupName=world.fleet.auto_scaling_group,
                                                              InstanceIds=[instance_id])
    return response


def refused(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return dict(raised.value.response["Error"])


def activities(world: World) -> list[tuple[str, str]]:
    found = world.autoscaling.describe_scaling_activities(AutoScalingGroupName=world.fleet.auto_scaling_group)
    return [(a["Description"], a["StatusCode"]) for a in found["Activities"]]


def test_the_fleet_is_one_group_of_in_service_healthy_members(make_world: MakeWorld) -> None:
    # GIVEN a fleet built with an Auto Scaling group
    world = asg_world(make_world, min_size=2)
    ids = world.fleet.instance_ids
    # WHEN the group and its instances are described
    described = group(world)
    members = world.autoscaling.describe_auto_scaling_instances(InstanceIds=ids)["AutoScalingInstances"]
    tags = world.ec2.describe_tags(Filters=[{"Name": "key", "Values": ["aws:autoscaling:groupName"]}])["Tags"]
    # THEN every instance is an InService, healthy member, and the group is attached to both target groups
    assert world.fleet.auto_scaling_group == "web-asg"
    assert (described["MinSize"], described["MaxSize"], described["DesiredCapacity"]) == (2, SIZE + 2, SIZE)
    assert described["TargetGroupARNs"] == world.fleet.target_group_arns
    assert described["VPCZoneIdentifier"] == ",".join(world.fleet.subnet_ids)
    assert {(i["InstanceId"], i["LifecycleState"], i["HealthStatus"]) for i in described["Instances"]} == {
        (i, "InService", "Healthy") for i in ids}
    assert {(m["InstanceId"], m["AutoScalingGroupName"], m["LifecycleState"], m["HealthStatus"])
            for m in members} == {(i, "web-asg", "InService", "HEALTHY") for i in ids}
    # AND each instance carries the group tag AWS puts on members
    assert {(t["ResourceId"], t["Value"]) for t in tags} == {(i, "web-asg") for i in ids}


def test_entering_standby_below_min_size_is_refused_and_changes_nothing(make_world: MakeWorld) -> None:
    # GIVEN a group at its minimum size
    world = asg_world(make_world, min_size=SIZE)
    victim = world.instance(1)
    # WHEN an instance is put in Standby with the desired capacity decremented
    error = refused(world.autoscaling.enter_standby, AutoScalingGroupName="web-asg", InstanceIds=[victim],
                    ShouldDecrementDesiredCapacity=True)
    # THEN AWS's min-size error, and the instance is still InService and healthy in both target groups
    assert error == {"Code": "ValidationError", "Message": (
        f"AutoScalingGroup web-asg has min-size={SIZE}, max-size={SIZE + 2}, and desired-size={SIZE}. "
        "Entering standby would violate the min-size constraint.")}
    assert lifecycle(world, victim) == "InService"
    assert world.sim.asg_desired_capacity() == SIZE
    assert {world.state(world.https, victim), world.state(world.http, victim)} == {"healthy"}
    assert activities(world) == []


def test_standby_comes_when_the_drain_ends_in_every_attached_target_group(make_world: MakeWorld) -> None:
    # GIVEN an HTTPS target group whose deregistration delay is only 60 s (HTTP keeps 300 s)
    world = asg_world(make_world)
    world.elbv2.modify_target_group_attributes(
        TargetGroupArn=world.https, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "60"}])
    victim = world.instance(2)
    # WHEN it enters Standby with the desired capacity decremented
    response = enter(world, victim, decrement=True)
    # THEN the group deregisters it from both target groups at once and it is EnteringStandby
    activity = response["Activities"][0]
    assert (activity["Description"], activity["StatusCode"], activity["Progress"]) == (
        f"Moving EC2 instance to Standby: {victim}", "InProgress", 50)
    assert world.sim.asg_desired_capacity() == SIZE - 1
    assert (world.state(world.https, victim), world.state(world.http, victim)) == ("draining", "draining")
    assert lifecycle(world, victim) == "EnteringStandby"
    # AND when the HTTPS drain is over it is still entering: the HTTP drain is not
    world.advance(60)
    assert victim not in world.health(world.https)
    assert lifecycle(world, victim) == "EnteringStandby"
    # AND ExitStandby is refused until then
    assert refused(world.autoscaling.exit_standby, AutoScalingGroupName="web-asg", InstanceIds=[victim]) == {
        "Code": "ValidationError", "Message": f"The instance {victim} is not in Standby."}
    world.advance(239.9)
    assert lifecycle(world, victim) == "EnteringStandby"
    assert activities(world) == [(f"Moving EC2 instance to Standby: {victim}", "InProgress")]
    # AND it is Standby exactly when the last drain ends
    world.advance(0.1)
    assert lifecycle(world, victim) == "Standby"
    assert world.sim.asg_lifecycle(victim, at=T0 + 299.9) == "EnteringStandby"
    assert activities(world) == [(f"Moving EC2 instance to Standby: {victim}", "Successful")]
    # AND a Standby instance cannot enter Standby again
    assert refused(world.autoscaling.enter_standby, AutoScalingGroupName="web-asg", InstanceIds=[victim],
                   ShouldDecrementDesiredCapacity=True)["Message"] == f"The instance {victim} is not in InService."


def test_exiting_standby_registers_it_again_through_initial_to_healthy(make_world: MakeWorld) -> None:
    # GIVEN an instance in Standby (entered with decrement)
    world = asg_world(make_world)
    victim = world.instance(0)
    enter(world, victim, decrement=True)
    world.advance(300)
    # WHEN it exits Standby
    response = leave(world, victim)
    # THEN it is InService at once, the desired capacity is back, and both targets start over as initial
    assert response["Activities"][0]["Description"] == f"Moving EC2 instance out of Standby: {victim}"
    assert lifecycle(world, victim) == "InService"
    assert world.sim.asg_desired_capacity() == SIZE
    assert (world.state(world.https, victim), world.state(world.http, victim)) == ("initial", "initial")
    # AND healthy after the healthy threshold, with no replacement launched
    world.advance(30)
    assert (world.state(world.https, victim), world.state(world.http, victim)) == ("healthy", "healthy")
    assert world.sim.replacements() == []


def test_standby_without_decrement_launches_a_replacement_that_goes_when_the_instance_returns(
        make_world: MakeWorld) -> None:
    # GIVEN a group keeping its desired capacity while an instance is in Standby
    world = asg_world(make_world)
    victim = world.instance(3)
    enter(world, victim, decrement=False)
    # THEN the group launched a replacement in the same subnet: Pending, booting, not registered yet
    [replacement] = world.sim.replacements()
    described = world.ec2.describe_instances(InstanceIds=[replacement])["Reservations"][0]["Instances"][0]
    assert described["SubnetId"] == world.sim.instance(victim).subnet_id  # type: ignore[union-attr]
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["aws:autoscaling:groupName"] == "web-asg"
    # AND its LaunchTime is its launch, now on the virtual clock; the fleet's own are long before build()
    peer = world.ec2.describe_instances(InstanceIds=[victim])["Reservations"][0]["Instances"][0]
    assert described["LaunchTime"].timestamp() == world.clock.now()
    assert peer["LaunchTime"].timestamp() == world.sim.build_time - 3600
    assert world.sim.asg_desired_capacity() == SIZE
    assert lifecycle(world, replacement) == "Pending"
    assert world.sim.instance_state(replacement) == "pending"
    assert replacement not in world.health(world.https)
    # AND it is InService and registered after launch_seconds, healthy 30 s later
    world.advance(89.9)
    assert lifecycle(world, replacement) == "Pending"
    world.advance(0.1)
    assert lifecycle(world, replacement) == "InService"
    assert world.state(world.https, replacement) == "initial"
    world.advance(30)
    assert (world.state(world.https, replacement), world.state(world.http, replacement)) == ("healthy", "healthy")
    # WHEN the Standby instance returns
    world.advance(300 - 120)
    leave(world, victim)
    # THEN the group has one instance too many and terminates the newest: the replacement
    assert world.sim.asg_desired_capacity() == SIZE
    assert lifecycle(world, replacement) == "Terminating"
    assert world.state(world.https, replacement) == "draining"
    world.advance(300 + 30)
    assert lifecycle(world, replacement) is None
    assert world.sim.instance_state(replacement) == "terminated"
    assert replacement not in world.health(world.https)
    assert {i["InstanceId"] for i in group(world)["Instances"]} == set(world.fleet.instance_ids)


def test_an_unhealthy_instance_is_replaced_and_capacity_comes_back(make_world: MakeWorld) -> None:
    # GIVEN a group of 4 in two target groups
    world = asg_world(make_world)
    victim = world.instance(1)
    # WHEN it is marked Unhealthy
    world.autoscaling.set_instance_health(InstanceId=victim, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    # THEN it is Terminating and draining at once, and a replacement is launched at the same moment
    [replacement] = world.sim.replacements()
    assert lifecycle(world, victim) == "Terminating"
    assert (world.state(world.https, victim), world.state(world.http, victim)) == ("draining", "draining")
    assert lifecycle(world, replacement) == "Pending"
    # AND its OS serves until the drain ends, then shuts down; it is gone delay + terminate_seconds later
    world.advance(299.9)
    assert world.sim.is_up(victim) and world.sim.instance_state(victim) == "running"
    world.advance(0.1)
    assert not world.sim.is_up(victim) and world.sim.instance_state(victim) == "shutting-down"
    assert victim not in world.health(world.https)
    world.advance(30)
    assert lifecycle(world, victim) is None
    described = world.ec2.describe_instance_status(InstanceIds=[victim], IncludeAllInstances=True)
    assert described["InstanceStatuses"][0]["InstanceState"] == {"Code": 48, "Name": "terminated"}
    # AND the replacement is healthy in both target groups (InService at 90 s, healthy at 120 s)
    assert (world.state(world.https, replacement), world.state(world.http, replacement)) == ("healthy", "healthy")
    assert world.sim.memory_percent(replacement) == 40.0
    # AND the capacity timeline counts it: 3 healthy from the mark until the replacement is healthy, then 4
    # (as built; marked + launched; replacement booted; InService; healthy; victim shut down; terminated)
    timeline = world.sim.capacity_timeline()
    assert [p.time - T0 for p in timeline] == [0, 0, 60, 90, 120, 300, 330]
    assert [p.healthy[world.https] for p in timeline] == [4, 3, 3, 3, 4, 4, 4]
    assert [p.healthy[world.http] for p in timeline] == [4, 3, 3, 3, 4, 4, 4]
    assert [sorted(p.out_of_service) for p in timeline] == [
        [], *[sorted([victim, replacement])] * 3, [victim], [victim], []]
    assert [sorted(p.down) for p in timeline] == [[], [replacement], [], [], [], [victim], []]
    # AND SSM refuses a command to the terminated instance
    with pytest.raises(ClientError) as raised:
        world.send(victim, "nightshift:boot-time")
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceId"
    assert activities(world) == [(f"Launching a new EC2 instance: {replacement}", "Successful"),
                                 (f"Terminating EC2 instance: {victim}", "Successful")]


def test_healthy_only_sets_the_flag_and_unknown_instances_are_refused(make_world: MakeWorld) -> None:
    world = asg_world(make_world)
    # WHEN a member is marked Healthy, and an instance the simulator owns but the group lost is marked
    world.autoscaling.set_instance_health(InstanceId=world.instance(0), HealthStatus="Healthy")
    world.autoscaling.set_instance_health(InstanceId=world.instance(2), HealthStatus="Unhealthy")
    world.advance(330)
    error = refused(world.autoscaling.set_instance_health, InstanceId=world.instance(2), HealthStatus="Unhealthy")
    # THEN nothing was replaced for the first; the terminated one is no longer a member
    assert lifecycle(world, world.instance(0)) == "InService"
    assert len(world.sim.replacements()) == 1
    assert error["Code"] == "ValidationError"


def test_groups_without_target_groups_enter_standby_at_once(make_world: MakeWorld) -> None:
    # GIVEN a group with no target groups attached
    world = asg_world(make_world, attach_target_groups=False)
    victim = world.instance(0)
    # WHEN an instance enters Standby
    enter(world, victim, decrement=True)
    # THEN there is nothing to drain: it is Standby at once and still healthy in the (unattached) groups
    assert group(world)["TargetGroupARNs"] == []
    assert lifecycle(world, victim) == "Standby"
    assert world.state(world.https, victim) == "healthy"


def test_injected_activity_and_instance_refresh_are_in_progress_inside_their_windows(
        make_world: MakeWorld) -> None:
    # GIVEN a scaling activity 10-100 s after build and an instance refresh 0-50 s after build
    world = asg_world(make_world, activity_in_progress=(10.0, 100.0), instance_refresh_in_progress=(0.0, 50.0))

    def refresh() -> list[str]:
        found = world.autoscaling.describe_instance_refreshes(AutoScalingGroupName="web-asg")["InstanceRefreshes"]
        return [r["Status"] for r in found]

    # WHEN they are described before, inside and after their windows
    # THEN each is InProgress inside its window and Successful after; the activity is absent before it starts
    assert (activities(world), refresh()) == ([], ["InProgress"])
    world.advance(10)
    assert activities(world) == [("Launching a new EC2 instance", "InProgress")]
    world.advance(40)
    assert refresh() == ["Successful"]
    world.advance(50)
    assert activities(world) == [("Launching a new EC2 instance", "Successful")]


def test_no_injected_refresh_means_none(make_world: MakeWorld) -> None:
    world = asg_world(make_world)
    assert world.autoscaling.describe_instance_refreshes(AutoScalingGroupName="web-asg")["InstanceRefreshes"] == []


def test_calls_about_another_group_pass_through_to_moto(make_world: MakeWorld) -> None:
    # GIVEN a group moto holds itself, next to the simulated one
    world = asg_world(make_world)
    world.autoscaling.create_launch_configuration(LaunchConfigurationName="lc", ImageId="ami-12c6146b",
                                                  InstanceType="t3.micro")
    world.autoscaling.create_auto_scaling_group(AutoScalingGroupName="other", LaunchConfigurationName="lc",
                                                MinSize=0, MaxSize=1, DesiredCapacity=0,
                                                VPCZoneIdentifier=world.fleet.subnet_ids[0])
    # WHEN each group is described by name
    other = world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["other"])["AutoScalingGroups"]
    ours = group(world)
    # THEN moto answered for its group and the simulator for its own; only ours counts as the fleet's call
    assert [g["AutoScalingGroupName"] for g in other] == ["other"]
    assert ours["AutoScalingGroupName"] == "web-asg"
    assert world.sim.api_calls()["autoscaling.DescribeAutoScalingGroups"] == 2  # one ours, one passed through
    assert world.autoscaling.describe_scaling_activities(AutoScalingGroupName="other")["Activities"] == []
    # AND a fleet without a group answers nothing about Auto Scaling
    plain = make_world(FleetSpec(name="plain", size=2, leaking={}))
    assert plain.fleet.auto_scaling_group is None
    assert plain.autoscaling.describe_auto_scaling_instances(
        InstanceIds=plain.fleet.instance_ids)["AutoScalingInstances"] == []


def test_nonsense_group_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Desired capacity:4 must be between the specified min size:5"):
        FleetSpec(size=4, leaking={}, auto_scaling=AutoScalingSpec(min_size=5))
    with pytest.raises(ValueError, match="max_size 1 must be >= min_size 2"):
        AutoScalingSpec(min_size=2, max_size=1)
    with pytest.raises(ValueError, match="activity_in_progress"):
        AutoScalingSpec(activity_in_progress=(50.0, 10.0))
