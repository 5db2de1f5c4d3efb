"""Target health as DescribeTargetHealth reports it, over virtual time."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from moto.elbv2.models import elbv2_backends

from nightshift.sim import FleetSpec, InstanceSpec
from tests.harness import MakeWorld, World


def test_fleet_starts_registered_and_healthy_in_both_target_groups(world: World) -> None:
    # GIVEN a freshly built fleet of 12
    # WHEN both target groups are described without a Targets filter
    https, http = world.health(world.https), world.health(world.http)
    # THEN every instance is listed, healthy, on its group's port
    assert set(https) == set(world.fleet.instance_ids) == set(http)
    assert {h["State"] for h in [*https.values(), *http.values()]} == {"healthy"}
    described = world.elbv2.describe_target_health(TargetGroupArn=world.https)["TargetHealthDescriptions"][0]
    assert described["Target"]["Port"] == 443
    assert described["HealthCheckPort"] == "443"
    assert described["TargetHealth"] == {"State": "healthy"}


def test_deregistered_target_drains_for_exactly_the_delay_then_is_gone(world: World) -> None:
    # GIVEN a healthy instance (delay 300 s)
    victim = world.instance(3)
    # WHEN it is deregistered and time passes
    world.deregister(victim)
    draining = world.health(world.https, victim)[victim]
    world.advance(299.9)
    still = world.state(world.https, victim)
    world.advance(0.1)
    # THEN it is draining with AWS's reason for the whole delay, and gone at the delay
    assert draining == {"State": "draining", "Reason": "Target.DeregistrationInProgress",
                        "Description": "Target deregistration is in progress"}
    assert still == "draining"
    assert victim not in world.health(world.https)  # absent from the unfiltered list
    assert world.health(world.https, victim)[victim] == {
        "State": "unused", "Reason": "Target.NotRegistered",
        "Description": "Target is not registered to the target group"}
    assert world.sim.target_state(victim, world.https) is None


def test_deregistering_twice_is_accepted_and_keeps_the_first_delay(world: World) -> None:
    # GIVEN an instance draining for 200 s already
    victim = world.instance(0)
    world.deregister(victim)
    world.advance(200)
    # WHEN it is deregistered again (AWS accepts this and changes nothing)
    world.deregister(victim)
    world.advance(100)
    # THEN the drain still ends 300 s after the first deregistration
    assert victim not in world.health(world.http)


def test_moto_target_list_follows_the_simulator(world: World) -> None:
    # GIVEN moto's own view of the HTTPS target group
    account, region = "123456789012", "us-east-1"
    moto_group = elbv2_backends[account][region].target_groups[world.https]
    victim = world.instance(1)
    # WHEN the instance is deregistered, then registered again
    world.deregister(victim)
    removed = victim not in moto_group.targets
    world.register(victim)
    # THEN moto removed and re-added it in step
    assert removed
    assert moto_group.targets[victim]["Port"] == 443


def test_registering_a_draining_target_starts_it_over_as_initial(world: World) -> None:
    # GIVEN a draining instance (interval 10 s, healthy threshold 3)
    victim = world.instance(2)
    world.deregister(victim)
    world.advance(40)
    # WHEN it is registered again
    world.register(victim)
    initial = world.health(world.https, victim)[victim]
    world.advance(29.9)
    before = world.state(world.https, victim)
    world.advance(0.1)
    # THEN it is initial until threshold x interval has passed, then healthy
    assert initial == {"State": "initial", "Reason": "Elb.RegistrationInProgress",
                       "Description": "Target registration is in progress"}
    assert before == "initial"
    assert world.state(world.https, victim) == "healthy"
    assert world.state(world.http, victim) == "healthy"


def test_registering_a_registered_target_changes_nothing(world: World) -> None:
    # GIVEN a healthy instance
    target = world.instance(4)
    # WHEN it is registered again
    world.register(target)
    # THEN it stays healthy (AWS does not restart health checks for a target already registered)
    assert world.state(world.https, target) == "healthy"


def test_unknown_instances_are_refused_in_simulated_target_groups(world: World) -> None:
    # GIVEN an id that is not part of the fleet
    # WHEN it is registered
    with pytest.raises(ClientError) as raised:
        world.elbv2.register_targets(TargetGroupArn=world.https, Targets=[{"Id": "i-0000000000000dead"}])
    # THEN the call fails the way AWS fails an unknown target
    assert raised.value.response["Error"]["Code"] == "InvalidTarget"


def test_a_reboot_makes_a_registered_target_unhealthy_then_healthy_again(world: World) -> None:
    # GIVEN a registered instance that reboots (queue 5 s, boot 60 s, unhealthy threshold 2 x 10 s)
    victim = world.instance(6)
    world.ec2.reboot_instances(InstanceIds=[victim])
    # WHEN time passes through the outage
    world.advance(5 + 19.9)
    healthy_while_briefly_down = world.state(world.https, victim)
    world.advance(0.1)
    unhealthy = world.health(world.https, victim)[victim]
    world.advance(60 - 20 + 29.9)  # up at 65 s, healthy 30 s later
    still_unhealthy = world.state(world.https, victim)
    world.advance(0.1)
    # THEN it reads healthy until 20 s of downtime, unhealthy (timed out) until 30 s after boot, then healthy
    assert healthy_while_briefly_down == "healthy"
    assert unhealthy == {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"}
    assert still_unhealthy == "unhealthy"
    assert world.state(world.https, victim) == "healthy"


def test_an_app_that_fails_after_reboot_stays_unhealthy(make_world: MakeWorld) -> None:
    # GIVEN an instance whose app never comes back after a reboot
    world = make_world(FleetSpec(leaking={5: InstanceSpec(leak_to_percent=85.0, app_fails=True)}))
    victim = world.instance(5)
    world.deregister(victim)
    world.advance(300)
    world.ec2.reboot_instances(InstanceIds=[victim])
    world.advance(120)
    # WHEN it is registered again and given far more than the healthy threshold
    world.register(victim)
    world.advance(19.9)
    initial = world.state(world.https, victim)
    world.advance(600)
    # THEN it goes from initial to unhealthy (failed checks) and never to healthy
    assert initial == "initial"
    assert world.health(world.https, victim)[victim] == {
        "State": "unhealthy", "Reason": "Target.FailedHealthChecks", "Description": "Health checks failed"}
    assert world.sim.target_state(victim, world.http) == "unhealthy"


def test_target_group_attributes_carry_the_true_delay_even_where_moto_cannot(make_world: MakeWorld) -> None:
    # GIVEN a fleet with AWS's maximum deregistration delay, which moto rejects
    world = make_world(FleetSpec(deregistration_delay=3600))
    moto_group = elbv2_backends["123456789012"]["us-east-1"].target_groups[world.https]
    # WHEN the attributes are described
    attributes = world.elbv2.describe_target_group_attributes(TargetGroupArn=world.https)["Attributes"]
    # THEN the answer is AWS's value while moto holds its clamped copy
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "3600"} in attributes
    assert str(moto_group.attributes["deregistration_delay.timeout_seconds"]) == "3599"
    # AND a drain lasts the true delay
    victim = world.instance(0)
    world.deregister(victim)
    world.advance(3599.5)
    assert world.state(world.https, victim) == "draining"


def test_modifying_the_delay_applies_to_later_drains(world: World) -> None:
    # GIVEN the delay changed to 60 s through the API
    world.elbv2.modify_target_group_attributes(
        TargetGroupArn=world.https, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "60"}])
    # WHEN an instance is deregistered
    victim = world.instance(7)
    world.deregister(victim)
    world.advance(60)
    # THEN it is gone from that group after 60 s but still draining in the other (300 s)
    assert world.sim.target_state(victim, world.https) is None
    assert world.sim.target_state(victim, world.http) == "draining"
    with pytest.raises(ClientError) as raised:
        world.elbv2.modify_target_group_attributes(
            TargetGroupArn=world.https,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}])
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_deregistering_a_port_override_needs_the_port_and_without_it_changes_nothing(
        make_world: MakeWorld) -> None:
    # GIVEN an HTTP target group on port 80 whose targets are registered with a port override, 8080
    world = make_world(FleetSpec(target_ports=(443, 8080), target_group_ports=(443, 80)))
    victim = world.instance(3)
    described = world.elbv2.describe_target_health(TargetGroupArn=world.http)["TargetHealthDescriptions"]
    assert {d["Target"]["Port"] for d in described} == {8080}
    # WHEN it is deregistered without Port (the target (victim, 80) does not exist)
    world.elbv2.deregister_targets(TargetGroupArn=world.http, Targets=[{"Id": victim}])
    # THEN the call succeeds and nothing changes; with another port neither
    assert world.state(world.http, victim) == "healthy"
    world.elbv2.deregister_targets(TargetGroupArn=world.http, Targets=[{"Id": victim, "Port": 9090}])
    assert world.state(world.http, victim) == "healthy"
    # AND with the port it was registered on it drains
    world.elbv2.deregister_targets(TargetGroupArn=world.http, Targets=[{"Id": victim, "Port": 8080}])
    assert world.state(world.http, victim) == "draining"
    # AND the simulator recorded the requests as sent
    assert world.sim.deregister_requests[-3:] == [
        (world.http, [{"Id": victim}]), (world.http, [{"Id": victim, "Port": 9090}]),
        (world.http, [{"Id": victim, "Port": 8080}])]


def test_deregistering_without_port_works_when_the_target_is_on_the_groups_port(world: World) -> None:
    victim = world.instance(3)
    world.elbv2.deregister_targets(TargetGroupArn=world.https, Targets=[{"Id": victim}])
    assert world.state(world.https, victim) == "draining"


def test_a_health_check_flap_turns_the_target_unhealthy_then_healthy_by_the_thresholds(
        make_world: MakeWorld) -> None:
    # GIVEN an instance whose app fails its health checks from 100 s to 160 s after build (interval 10 s,
    # unhealthy threshold 2, healthy threshold 3), its OS up throughout
    world = make_world(FleetSpec(leaking={4: InstanceSpec(health_check_failures=((100.0, 160.0),))}))
    victim = world.instance(4)

    def at(seconds: float) -> dict[str, str]:
        world.advance(world.sim.build_time + seconds - world.sim.now())
        return world.health(world.https, victim)[victim]

    # THEN healthy until two failed checks (120 s), unhealthy with failed checks until three passed ones after
    # the window (190 s), then healthy; its neighbour and the instance's EC2 state are untouched
    assert at(119.9)["State"] == "healthy"
    assert at(120.1) == {"State": "unhealthy", "Reason": "Target.FailedHealthChecks",
                         "Description": "Health checks failed"}
    assert world.sim.target_state(victim, world.http) == "unhealthy"
    assert at(189.9)["State"] == "unhealthy"
    assert at(190.1)["State"] == "healthy"
    assert world.state(world.https, world.instance(3)) == "healthy"
    assert world.sim.instance_state(victim) == "running"


def test_a_flap_window_must_be_a_finite_span_after_boot() -> None:
    with pytest.raises(ValueError, match="health_check_failures"):
        InstanceSpec(health_check_failures=((50.0, 20.0),))


def test_a_refused_delay_changes_no_attribute_of_the_call(world: World) -> None:
    # GIVEN the HTTPS group's attributes as they are
    def attributes() -> dict[str, str]:
        described = world.elbv2.describe_target_group_attributes(TargetGroupArn=world.https)["Attributes"]
        return {a["Key"]: a["Value"] for a in described}

    before = attributes()
    assert before["stickiness.enabled"] == "false"
    # WHEN one call changes stickiness and asks for a delay over 3600 s
    with pytest.raises(ClientError) as raised:
        world.elbv2.modify_target_group_attributes(TargetGroupArn=world.https, Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}])
    # THEN it is refused and nothing changed, in the simulator or in moto
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert attributes() == before
