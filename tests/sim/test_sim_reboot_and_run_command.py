"""RebootInstances only queues a reboot; Run Command sees the boot time change when it really happens."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import T0, MakeWorld, World

BOOT = "nightshift:boot-time"
CONNECTIONS = "nightshift:connections"


def statuses(world: World, instance_id: str) -> tuple[str, str, str]:
    status = world.ec2.describe_instance_status(InstanceIds=[instance_id],
                                                IncludeAllInstances=True)["InstanceStatuses"][0]
    return status["InstanceState"]["Name"], status["InstanceStatus"]["Status"], status["SystemStatus"]["Status"]


def test_boot_time_changes_only_when_the_queued_reboot_really_happens(world: World) -> None:
    # GIVEN an instance that booted at build time (queue 5 s, boot 60 s)
    target = world.instance(1)
    first_boot = world.ask(target, BOOT)
    # WHEN a reboot is requested
    world.ec2.reboot_instances(InstanceIds=[target])
    requested_at = world.clock.now()
    # THEN right after the request the boot time is unchanged and status checks read ok
    world.advance(2)
    assert world.ask(target, BOOT) == first_boot == int(T0)
    assert statuses(world, target) == ("running", "ok", "ok")
    # AND while the OS is down the agent is not running: SSM refuses SendCommand with InvalidInstanceId
    # (AWS: "SSM Agent isn't running"); status checks still read ok
    world.advance(10)
    assert not world.sim.is_up(target)
    with pytest.raises(ClientError) as refused:
        world.send(target, BOOT)
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    world.advance(5)
    assert statuses(world, target) == ("running", "ok", "ok")
    # AND once it is back the boot time is the moment the reboot really happened
    world.advance(60)
    after = world.ask(target, BOOT)
    assert after == int(requested_at + 5) > requested_at
    assert world.sim.reboots(target) == [requested_at + 5]
    assert world.sim.reboot_requests(target) == [requested_at]


def test_a_second_request_while_one_is_queued_does_not_queue_another(world: World) -> None:
    # GIVEN a reboot already queued
    target = world.instance(2)
    world.ec2.reboot_instances(InstanceIds=[target])
    first = world.clock.now()
    world.advance(3)
    # WHEN the reboot is requested again before the OS went down, and once more while it boots
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(30)
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(300)
    # THEN all three requests are recorded, but only one reboot happened
    assert len(world.sim.reboot_requests(target)) == 3
    assert world.sim.reboots(target) == [first + 5]


def test_a_hung_os_only_reboots_at_the_hard_reboot(make_world: MakeWorld) -> None:
    # GIVEN an instance whose OS hangs on shutdown; AWS hard-reboots it 240 s after the request
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, hard_reboot_after_seconds=240)}))
    target = world.instance(5)
    before = world.ask(target, BOOT)
    world.ec2.reboot_instances(InstanceIds=[target])
    requested_at = world.clock.now()
    # WHEN 200 s pass
    world.advance(200)
    # THEN the OS is hung (not serving) but has not rebooted; status checks still read ok
    assert not world.sim.is_up(target)
    assert world.sim.reboots(target) == []
    assert statuses(world, target) == ("running", "ok", "ok")
    # AND after the hard reboot and the boot, the boot time is the hard reboot's
    world.advance(40 + 60)
    assert world.ask(target, BOOT) == int(requested_at + 240) > before


def test_rebooting_an_unknown_instance_fails_like_aws(world: World) -> None:
    # GIVEN one fleet instance and one id that exists nowhere
    # WHEN both are rebooted in one call
    with pytest.raises(ClientError) as raised:
        world.ec2.reboot_instances(InstanceIds=[world.instance(0), "i-0123456789abcdef0"])
    # THEN EC2's not-found error names the unknown id, and nothing was queued
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert "i-0123456789abcdef0" in raised.value.response["Error"]["Message"]
    assert world.sim.reboot_requests(world.instance(0)) == []


def test_run_command_is_in_progress_until_it_has_run(world: World) -> None:
    # GIVEN a connections command just sent
    target = world.instance(3)
    command_id = world.send(target, CONNECTIONS)
    # WHEN it is read before and after its run time
    early = world.invocation(command_id, target)
    world.advance(1)
    done = world.invocation(command_id, target)
    # THEN it is InProgress first, then Success with the instance's established connections
    assert early["Status"] == "InProgress"
    assert done["Status"] == "Success"
    assert done["ResponseCode"] == 0
    expected = world.sim.connections(target)
    assert expected is not None and expected > 0
    assert int(done["StandardOutputContent"]) == expected


def test_an_instance_without_a_running_agent_refuses_commands(make_world: MakeWorld) -> None:
    # GIVEN a running instance whose SSM agent is offline (not running, or not registered)
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, ssm_online=False)}))
    target = world.instance(5)
    assert world.sim.is_up(target)
    # WHEN a command is sent to it
    with pytest.raises(ClientError) as refused:
        world.send(target, BOOT, timeout=60)
    # THEN SSM answers InvalidInstanceId, as it documents for an agent that isn't running or registered
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    assert target in refused.value.response["Error"]["Message"]


def test_unknown_command_invocations_do_not_exist(world: World) -> None:
    # GIVEN a command id nobody issued, and a real command asked about another instance
    command_id = world.send(world.instance(0), BOOT)
    for unknown_command, instance_id in (("0b7c9a4e-0000-4000-8000-000000000000", world.instance(0)),
                                         (command_id, world.instance(1))):
        # WHEN its invocation is requested
        with pytest.raises(ClientError) as raised:
            world.invocation(unknown_command, instance_id)
        # THEN SSM says the invocation does not exist
        assert raised.value.response["Error"]["Code"] == "InvocationDoesNotExist"


def test_other_commands_pass_through_to_moto(world: World) -> None:
    # GIVEN a command the simulator does not model
    response = world.ssm.send_command(InstanceIds=[world.instance(0)], DocumentName="AWS-RunShellScript",
                                      Parameters={"commands": ["uptime"]}, Comment="someone else's")
    # WHEN its invocation is read
    invocation = world.invocation(response["Command"]["CommandId"], world.instance(0))
    # THEN moto answered it (the simulator only counted the calls)
    assert invocation["CommandId"] == response["Command"]["CommandId"]
    assert world.sim.api_calls()["ssm.SendCommand"] == 1
