"""Instances that are already failing (InstanceSpec.fault): an app failing its health checks, a hung OS, an
impaired instance or host. Each behaviour as AWS documents it (docs/aws-behaviour.md, "Failing instances")."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import FleetSpec, InstanceSpec
from nightshift.sim.spec import HUNG_HARD_REBOOT_SECONDS
from tests.harness import MakeWorld, World

BOOT = "nightshift:boot-time"


def statuses(world: World, instance_id: str) -> tuple[dict[str, object], dict[str, object]]:
    found = world.ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"][0]
    return found["InstanceStatus"], found["SystemStatus"]


def make(make_world: MakeWorld, fault: str, fault_at: float = 0.0) -> World:
    # interval 10 s, unhealthy threshold 2: a failing target turns unhealthy 20 s after it starts failing
    return make_world(FleetSpec(size=3, leaking={1: InstanceSpec(fault=fault, fault_at=fault_at)}))  # type: ignore[arg-type]


def test_an_app_failing_health_checks_turns_unhealthy_after_the_threshold_with_failed_health_checks(
        make_world: MakeWorld) -> None:
    world = make(make_world, "app_failing")
    target = world.instance(1)
    world.advance(19.9)
    assert world.state(world.https, target) == "healthy"  # 2 checks x 10 s not yet failed
    world.advance(0.2)
    health = world.health(world.https, target)[target]
    assert (health["State"], health["Reason"]) == ("unhealthy", "Target.FailedHealthChecks")
    # AND the OS is fine: status checks ok, the agent answers, metrics flow
    assert statuses(world, target)[0]["Status"] == statuses(world, target)[1]["Status"] == "ok"
    assert world.sim.memory_percent(target) is not None
    world.ask(target, BOOT)
    # WHEN it is rebooted (the app restarts) THEN it passes its checks again
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(5 + 60 + 31)
    assert world.state(world.https, target) == "healthy"


def test_a_hung_os_publishes_nothing_refuses_ssm_times_out_and_a_hard_reboot_cures_it(make_world: MakeWorld) -> None:
    world = make(make_world, "hung", fault_at=-300.0)
    target = world.instance(1)
    world.advance(21)
    health = world.health(world.https, target)[target]
    assert (health["State"], health["Reason"]) == ("unhealthy", "Target.Timeout")
    assert world.sim.memory_percent(target) is None and world.sim.memory_percent(world.instance(0)) is not None
    with pytest.raises(ClientError) as refused:
        world.send(target, BOOT)
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"
    # status checks may stay ok while the OS hangs (what the `silent` criterion is for)
    assert statuses(world, target)[0]["Status"] == "ok"
    # WHEN rebooted THEN it cannot shut down cleanly: EC2 hard-reboots it minutes later, then it boots
    asked = world.clock.now()
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(HUNG_HARD_REBOOT_SECONDS - 1)
    assert world.sim.memory_percent(target) is None
    world.advance(1 + 60 + 1)
    assert world.sim.memory_percent(target) is not None
    assert world.ask(target, BOOT) >= int(asked + HUNG_HARD_REBOOT_SECONDS)


def test_an_impaired_host_says_so_with_impaired_since_survives_a_reboot_and_a_stop_start_cures_it(
        make_world: MakeWorld) -> None:
    world = make(make_world, "system_impaired", fault_at=-600.0)
    target = world.instance(1)
    began = world.clock.now() - 600.0
    instance, system = statuses(world, target)
    assert instance["Status"] == "ok" and system["Status"] == "impaired"
    detail = system["Details"][0]  # type: ignore[index]
    assert detail["Status"] == "failed" and isinstance(detail["ImpairedSince"], datetime)
    assert detail["ImpairedSince"].timestamp() == pytest.approx(began)
    assert world.sim.memory_percent(target) is None
    # WHEN rebooted (same host) THEN still impaired once it is back
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(300 + 60 + 10)
    assert statuses(world, target)[1]["Status"] == "impaired"
    assert world.sim.memory_percent(target) is None
    # WHEN stopped and started (a new host) THEN ok, publishing and healthy again
    world.ec2.stop_instances(InstanceIds=[target])
    world.advance(21)
    world.ec2.start_instances(InstanceIds=[target])
    world.advance(61)
    assert statuses(world, target)[1]["Status"] == "ok"
    assert world.sim.memory_percent(target) is not None


def test_an_impaired_instance_is_cured_by_a_reboot(make_world: MakeWorld) -> None:
    world = make(make_world, "instance_impaired", fault_at=-60.0)
    target = world.instance(1)
    instance, system = statuses(world, target)
    assert instance["Status"] == "impaired" and system["Status"] == "ok"
    world.ec2.reboot_instances(InstanceIds=[target])
    world.advance(HUNG_HARD_REBOOT_SECONDS + 60 + 1)
    assert statuses(world, target)[0]["Status"] == "ok"
    assert world.sim.memory_percent(target) is not None


def test_an_unknown_fault_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="fault must be"):
        InstanceSpec(fault="melted")  # type: ignore[arg-type]
