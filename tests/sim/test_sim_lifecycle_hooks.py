"""The simulator's termination lifecycle hook and Spot interruption warnings, as AWS documents them
(docs/aws-behaviour.md, "Termination lifecycle hooks and Spot interruption warnings")."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from nightshift.sim import AutoScalingSpec, FleetSpec, InstanceSpec, TerminationHookSpec
from tests.harness import MakeWorld, World

HEARTBEAT = 120
TERMINATE_SECONDS = 30.0  # AutoScalingSpec.terminate_seconds (default)


def hook_world(make_world: MakeWorld, inflight: float | None = 0.0) -> World:
    return make_world(FleetSpec(name="web", size=4, leaking={}, default=InstanceSpec(inflight_seconds=inflight),
                                auto_scaling=AutoScalingSpec(min_size=1, attach_target_groups=False,
                                                             termination_hook=TerminationHookSpec(
                                                                 heartbeat_timeout=HEARTBEAT))))


def state(world: World, instance_id: str) -> str | None:
    found = world.autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    return str(found[0]["LifecycleState"]) if found else None


def test_a_scale_in_waits_in_terminating_wait_and_emits_the_event(make_world: MakeWorld) -> None:
    world = hook_world(make_world)
    instance = world.fleet.instance_ids[0]
    event = world.sim.scale_in(instance)
    assert event is not None
    assert event["detail-type"] == "EC2 Instance-terminate Lifecycle Action" and event["source"] == "aws.autoscaling"
    assert event["detail"]["EC2InstanceId"] == instance
    assert event["detail"]["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert state(world, instance) == "Terminating:Wait"
    assert world.sim.instance_state(instance) == "running"
    hooks = world.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=world.fleet.auto_scaling_group)
    assert hooks["LifecycleHooks"][0]["HeartbeatTimeout"] == HEARTBEAT
    assert hooks["LifecycleHooks"][0]["GlobalTimeout"] == 100 * HEARTBEAT  # < 48 h


def test_without_an_answer_the_hook_times_out_and_the_instance_goes(make_world: MakeWorld) -> None:
    world = hook_world(make_world)
    instance = world.fleet.instance_ids[0]
    world.sim.scale_in(instance)
    world.clock.advance(HEARTBEAT - 1)
    assert state(world, instance) == "Terminating:Wait"
    world.clock.advance(2)
    assert state(world, instance) == "Terminating:Proceed"
    world.clock.advance(TERMINATE_SECONDS)
    assert state(world, instance) is None and world.sim.instance_state(instance) == "terminated"


def test_a_heartbeat_restarts_the_timeout(make_world: MakeWorld) -> None:
    world = hook_world(make_world)
    instance = world.fleet.instance_ids[0]
    event = world.sim.scale_in(instance)
    world.clock.advance(HEARTBEAT - 10)
    world.autoscaling.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=world.fleet.auto_scaling_group, LifecycleHookName=event["detail"]["LifecycleHookName"],
        LifecycleActionToken=event["detail"]["LifecycleActionToken"])
    world.clock.advance(HEARTBEAT - 10)
    assert state(world, instance) == "Terminating:Wait"
    world.clock.advance(11)
    assert state(world, instance) == "Terminating:Proceed"


def test_complete_lets_it_go_at_once_and_a_second_complete_is_refused(make_world: MakeWorld) -> None:
    world = hook_world(make_world)
    instance = world.fleet.instance_ids[0]
    event = world.sim.scale_in(instance)
    args = {"AutoScalingGroupName": world.fleet.auto_scaling_group,
            "LifecycleHookName": event["detail"]["LifecycleHookName"], "InstanceId": instance}
    world.clock.advance(10)
    world.autoscaling.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **args)
    assert state(world, instance) == "Terminating:Proceed"
    with pytest.raises(ClientError, match="No active Lifecycle Action found"):
        world.autoscaling.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **args)
    with pytest.raises(ClientError, match="No active Lifecycle Action found"):
        world.autoscaling.record_lifecycle_action_heartbeat(**args)
    world.clock.advance(TERMINATE_SECONDS + 1)
    assert world.sim.instance_state(instance) == "terminated"


def test_a_spot_warning_terminates_two_minutes_later_and_counts_the_requests_cut(make_world: MakeWorld) -> None:
    # nobody drains it: the requests it serves when it goes down are cut
    world = hook_world(make_world)
    instance = world.fleet.instance_ids[1]
    serving = world.sim.instance(instance).lb_connections(world.sim.checks, world.clock.now())
    assert serving
    event = world.sim.spot_interrupt(instance)
    assert event["detail-type"] == "EC2 Spot Instance Interruption Warning" and event["source"] == "aws.ec2"
    assert event["detail"] == {"instance-id": instance, "instance-action": "terminate"}
    world.clock.advance(119)
    assert world.sim.instance_state(instance) == "running" and world.sim.requests_cut(instance) is None
    world.clock.advance(2)
    assert world.sim.instance_state(instance) == "shutting-down"
    assert world.sim.requests_cut(instance) == serving  # every connection it served when warned: never drained


def test_an_attached_group_drains_its_target_groups_before_the_hook_waits(make_world: MakeWorld) -> None:
    # AWS: "If the Auto Scaling group is using Elastic Load Balancing, the terminating instance is first
    # deregistered from the load balancer ... waits for existing connections to drain before completing the
    # deregistration process", then "the lifecycle hook puts the instance into a wait state (Terminating:Wait)"
    # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html)
    delay = 300
    world = make_world(FleetSpec(name="web", size=4, leaking={}, deregistration_delay=delay,
                                 default=InstanceSpec(inflight_seconds=None),
                                 auto_scaling=AutoScalingSpec(min_size=1, attach_target_groups=True,
                                                              termination_hook=TerminationHookSpec(
                                                                  heartbeat_timeout=HEARTBEAT))))
    instance = world.fleet.instance_ids[0]
    scaled_at = world.clock.now()
    event = world.sim.scale_in(instance)
    assert event is not None
    # deregistration under way: Terminating, no lifecycle action yet (nothing to heartbeat or complete)
    assert state(world, instance) == "Terminating"
    with pytest.raises(ClientError, match="No active Lifecycle Action"):
        world.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=world.fleet.auto_scaling_group, LifecycleHookName=event["detail"]["LifecycleHookName"],
            InstanceId=instance, LifecycleActionResult="CONTINUE")
    # the event is emitted when the hook starts waiting: once the connections drained
    world.clock.advance(delay)
    assert state(world, instance) == "Terminating:Wait"
    from datetime import datetime

    assert datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp() >= scaled_at + delay
    world.clock.advance(HEARTBEAT + 1)
    assert state(world, instance) == "Terminating:Proceed"
