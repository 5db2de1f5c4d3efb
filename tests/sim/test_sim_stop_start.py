"""StopInstances / StartInstances: states that take time, a fresh boot on a new host, and what AWS refuses."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import MakeWorld, World

BOOT = "nightshift:boot-time"
LEAKER = InstanceSpec(memory_percent=40.0, leak_to_percent=85.0)


def status(world: World, *instance_ids: str, include_all: bool = True) -> dict[str, tuple[str, int, str, str]]:
    """instance id -> (state, code, instance status, system status), through DescribeInstanceStatus."""
    response = world.ec2.describe_instance_status(InstanceIds=list(instance_ids), IncludeAllInstances=include_all)
    return {s["InstanceId"]: (s["InstanceState"]["Name"], s["InstanceState"]["Code"], s["InstanceStatus"]["Status"],
                              s["SystemStatus"]["Status"]) for s in response["InstanceStatuses"]}


def transition(response: dict[str, Any], key: str) -> tuple[str, int, str, int]:
    change = response[key][0]
    return (change["CurrentState"]["Name"], change["CurrentState"]["Code"], change["PreviousState"]["Name"],
            change["PreviousState"]["Code"])


def refused(call: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return dict(raised.value.response["Error"])


@pytest.fixture
def small(make_world: MakeWorld) -> World:
    # stop 20 s, boot 60 s; instance 1 leaks (85 %, back to 40 % after a fresh boot)
    return make_world(FleetSpec(size=3, leaking={1: LEAKER}))


def test_a_stop_then_start_walks_the_documented_states_and_boots_afresh(small: World) -> None:
    world, target = small, small.instance(1)
    first_boot = world.ask(target, BOOT)
    # WHEN it is stopped
    stopping = world.ec2.stop_instances(InstanceIds=[target])
    stopped_at = world.clock.now()
    # THEN it is stopping (64) with its OS down at once, and stopped (80) after stop_seconds
    assert transition(stopping, "StoppingInstances") == ("stopping", 64, "running", 16)
    assert not world.sim.is_up(target) and world.sim.connections(target) is None
    world.advance(19.9)
    assert status(world, target)[target] == ("stopping", 64, "not-applicable", "not-applicable")
    world.advance(0.1)
    assert status(world, target)[target] == ("stopped", 80, "not-applicable", "not-applicable")
    # AND stopping it again is a successful no-op, as on AWS
    assert transition(world.ec2.stop_instances(InstanceIds=[target]), "StoppingInstances") == (
        "stopped", 80, "stopped", 80)
    # WHEN it is started 100 s later
    world.advance(100)
    starting = world.ec2.start_instances(InstanceIds=[target])
    started_at = world.clock.now()
    # THEN it is pending (status checks initializing) until it has booted, then running and ok
    assert transition(starting, "StartingInstances") == ("pending", 0, "stopped", 80)
    world.advance(59.9)
    assert status(world, target)[target] == ("pending", 0, "initializing", "initializing")
    assert world.sim.memory_percent(target) is None
    world.advance(0.1)
    assert status(world, target)[target] == ("running", 16, "ok", "ok")
    # AND the kernel booted at the start (a new boot time), the leak is gone, and nothing counts as a reboot
    assert world.ask(target, BOOT) == int(started_at) > first_boot
    assert world.sim.memory_percent(target) == 40.0
    assert world.sim.reboots(target) == []
    assert world.sim.stop_start_requests(target) == [("stop", stopped_at), ("stop", stopped_at + 20),
                                                     ("start", started_at)]
    assert world.sim.instance_state(target, at=stopped_at + 10) == "stopping"


def test_a_stopping_instance_cannot_be_started_and_a_stopped_one_cannot_be_rebooted(small: World) -> None:
    world, target = small, small.instance(0)
    world.ec2.stop_instances(InstanceIds=[target])
    world.advance(10)
    # WHEN it is started while still stopping
    error = refused(world.ec2.start_instances, InstanceIds=[target])
    # THEN EC2 refuses, and nothing was recorded but the stop
    assert error["Code"] == "IncorrectInstanceState"
    assert error["Message"] == f"The instance '{target}' is not in a state from which it can be started."
    assert [kind for kind, _ in world.sim.stop_start_requests(target)] == ["stop"]
    # AND once stopped a reboot is refused too
    world.advance(10)
    assert refused(world.ec2.reboot_instances, InstanceIds=[target])["Code"] == "IncorrectInstanceState"
    assert world.sim.reboot_requests(target) == []
    # AND so is registering it in a target group (it must be running)
    assert refused(world.elbv2.register_targets, TargetGroupArn=world.https,
                   Targets=[{"Id": target}])["Code"] == "InvalidTarget"


def test_starting_a_running_instance_is_a_no_op_and_dry_run_changes_nothing(small: World) -> None:
    world, target = small, small.instance(2)
    # WHEN a running instance is started, and a stop is only a dry run
    starting = world.ec2.start_instances(InstanceIds=[target])
    error = refused(world.ec2.stop_instances, InstanceIds=[target], DryRun=True)
    # THEN the start reports running -> running and the dry run stops nothing
    assert transition(starting, "StartingInstances") == ("running", 16, "running", 16)
    assert error["Code"] == "DryRunOperation"
    assert world.sim.instance_state(target) == "running" and world.sim.is_up(target)
    # AND an unknown id is not found, as for reboots
    assert refused(world.ec2.stop_instances,
                   InstanceIds=[target, "i-0123456789abcdef0"])["Code"] == "InvalidInstanceID.NotFound"


@pytest.mark.parametrize("cures", [True, False])
def test_a_failing_app_is_cured_by_a_stop_start_only_on_a_new_host_that_cures_it(make_world: MakeWorld,
                                                                                 cures: bool) -> None:
    # GIVEN an instance whose app broke with a reboot and stays unhealthy (queue 5 s, boot 60 s)
    world = make_world(FleetSpec(size=3, leaking={1: InstanceSpec(leak_to_percent=85.0, app_fails=True,
                                                                  new_host_cures=cures)}))
    target = world.instance(1)
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(200)
    assert world.state(world.https, target) == "unhealthy"
    # WHEN it is stopped, started, and given time to boot and pass the healthy threshold (30 s)
    world.ec2.stop_instances(InstanceIds=[target])
    world.advance(20)
    world.ec2.start_instances(InstanceIds=[target])
    world.advance(60 + 29.9)
    assert world.state(world.https, target) == "unhealthy"
    world.advance(0.1)
    # THEN it is healthy again only when the new host cures it
    expected = "healthy" if cures else "unhealthy"
    assert (world.state(world.https, target), world.state(world.http, target)) == (expected, expected)
    assert world.sim.instance_state(target) == "running"


def test_describe_instance_status_lists_only_running_instances_unless_asked_for_all(small: World) -> None:
    world = small
    stopped, running = world.instance(0), world.instance(2)
    world.ec2.stop_instances(InstanceIds=[stopped])
    world.advance(30)
    # WHEN both are described, without and with IncludeAllInstances
    only_running = status(world, stopped, running, include_all=False)
    everything = status(world, stopped, running)
    # THEN AWS's default omits the stopped one; IncludeAllInstances reports it with checks not applicable
    assert only_running == {running: ("running", 16, "ok", "ok")}
    assert everything == {running: ("running", 16, "ok", "ok"),
                          stopped: ("stopped", 80, "not-applicable", "not-applicable")}


def test_a_command_sent_to_a_stopped_instance_is_refused_until_it_is_back(small: World) -> None:
    world, target = small, small.instance(0)
    world.ec2.stop_instances(InstanceIds=[target])
    world.advance(30)
    # WHEN a boot-time command is sent while it is stopped (its SSM Agent isn't running)
    with pytest.raises(ClientError) as refused:
        world.send(target, BOOT)
    # THEN SSM answers InvalidInstanceId, as it documents
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    # AND once it is started and booted, a command runs and reports the new boot
    world.advance(100)
    world.ec2.start_instances(InstanceIds=[target])
    started_at = world.clock.now()
    world.advance(60 + 1)
    assert world.ask(target, BOOT) == int(started_at)


def test_a_stopped_instance_never_started_keeps_refusing_commands(small: World) -> None:
    world, target = small, small.instance(0)
    world.ec2.stop_instances(InstanceIds=[target])
    for _ in range(3):
        world.advance(600)
        with pytest.raises(ClientError) as refused:
            world.send(target, BOOT, timeout=60)
        assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"


def launch_times(world: World, *instance_ids: str) -> dict[str, float]:
    """instance id -> LaunchTime (epoch seconds), as DescribeInstances reports it."""
    answer = world.ec2.describe_instances(InstanceIds=list(instance_ids))
    return {i["InstanceId"]: i["LaunchTime"].timestamp() for r in answer["Reservations"] for i in r["Instances"]}


def test_launch_time_is_the_last_launch_a_start_after_a_stop_renews_it_a_reboot_does_not(small: World) -> None:
    # "The time that the instance was last launched" (DescribeInstances, Instance.LaunchTime), on the virtual clock:
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html
    world, target, peer = small, small.instance(1), small.instance(2)
    built = world.sim.build_time
    before = launch_times(world, target, peer)
    # THEN the fleet existed before build(): launched when its metric history begins, an hour before
    assert before == {target: built - 3600, peer: built - 3600}
    # WHEN it is rebooted and its reboot is done, THEN its LaunchTime stays (a reboot is not a launch)
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(120)
    assert world.sim.is_up(target) and launch_times(world, target)[target] == built - 3600
    # WHEN it is stopped, THEN it stays too (stopped, not launched)
    world.ec2.stop_instances(InstanceIds=[target])
    world.advance(600)
    assert launch_times(world, target)[target] == built - 3600
    # WHEN it is started again THEN its LaunchTime is that start, on the virtual clock (moto would keep its
    # RunInstances wall-clock time), and the peer's is unchanged
    world.advance(7.0)
    started = world.clock.now()
    world.ec2.start_instances(InstanceIds=[target])
    world.advance(120)
    assert launch_times(world, target, peer) == {target: started, peer: built - 3600}
    # WHEN a running instance is "started" again (a no-op) THEN nothing is launched: LaunchTime stays
    world.ec2.start_instances(InstanceIds=[target])
    assert launch_times(world, target)[target] == started
