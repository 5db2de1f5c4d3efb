"""Random deregister/register/reboot sequences with random clock advances never yield an impossible state.

An independent shadow of the documented rules (not the simulator's algorithm) says which states are
possible at each instant; the simulator's answer must be one of them. The shadow knows only facts: when
the target was (de)registered, when the OS was not serving, and the group's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nightshift.sim import FleetSpec, InstanceSpec
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.power import PowerHistory
from nightshift.sim.target_health import HealthCheck as TargetHealthCheck
from nightshift.sim.target_health import TargetRecord
from tests.harness import T0, simulated_world

INTERVAL, HEALTHY_N, UNHEALTHY_N, DELAY = 10, 3, 2, 300
H, U = INTERVAL * HEALTHY_N, INTERVAL * UNHEALTHY_N
# Advances concentrated on the boundaries that matter: thresholds, queue, boot and delay.
ADVANCES = st.sampled_from([0.0, 0.5, 1.0, 4.9, 5.0, 10.0, 19.9, 20.0, 20.1, 29.9, 30.0, 45.0, 60.0, 65.0,
                            120.0, 240.0, 299.9, 300.0, 301.0])
ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("deregister"), st.integers(0, 1)),
    st.tuples(st.just("register"), st.integers(0, 1)),
    st.tuples(st.just("reboot"), st.just(0)),
    st.tuples(st.just("advance"), ADVANCES.map(lambda s: int(s * 10))),
), min_size=1, max_size=25)
SPECS = st.builds(InstanceSpec, reboot_queue_seconds=st.sampled_from([0.0, 5.0, 30.0]),
                  boot_seconds=st.sampled_from([5.0, 15.0, 60.0]),
                  hard_reboot_after_seconds=st.sampled_from([None, 240.0]))


@dataclass
class Shadow:
    """The facts, recorded independently of the simulator, and the states they allow."""

    spec: InstanceSpec
    active: list[bool] = field(default_factory=lambda: [True, True])
    registered_at: list[float | None] = field(default_factory=lambda: [None, None])  # None: since build
    deregistered_at: list[float] = field(default_factory=lambda: [0.0, 0.0])
    outages: list[tuple[float, float]] = field(default_factory=list)  # (stops serving, up again)

    def register(self, tg: int, now: float) -> None:
        if not self.active[tg]:
            self.active[tg], self.registered_at[tg] = True, now

    def deregister(self, tg: int, now: float) -> None:
        if self.active[tg]:
            self.active[tg], self.deregistered_at[tg] = False, now

    def reboot(self, now: float) -> None:
        if self.outages and now < self.outages[-1][1]:
            return  # one already queued, hanging or booting
        reset = now + (self.spec.hard_reboot_after_seconds or self.spec.reboot_queue_seconds)
        self.outages.append((now + self.spec.reboot_queue_seconds, reset + self.spec.boot_seconds))

    def down_since(self, now: float) -> float | None:
        return next((stops for stops, up in self.outages if stops <= now < up), None)

    def allowed(self, tg: int, now: float) -> set[str | None]:
        if not self.active[tg]:
            return {"draining"} if now < self.deregistered_at[tg] + DELAY else {None}
        since = self.registered_at[tg]
        start = since if since is not None else T0
        down = self.down_since(now)
        if down is not None and now - max(down, start) >= U:
            return {"unhealthy"}
        allowed: set[str | None] = {"initial", "healthy", "unhealthy"}
        if since is None:
            allowed.discard("initial")  # built healthy; it can only move between healthy and unhealthy
        elif now - since < H:
            allowed.discard("healthy")  # not enough checks passed since registration
        # Unhealthy needs a failing streak of U inside this registration.
        if not any(min(up, now) - max(stops, start) >= U for stops, up in self.outages):
            allowed.discard("unhealthy")
        # After an outage that made it unhealthy, healthy needs H of passing checks since the OS came back.
        for stops, up in self.outages:
            if up <= now < up + H and up - max(stops, start) > U:
                allowed.discard("healthy")
        return allowed


def model_instance(spec: InstanceSpec) -> tuple[SimulatedInstance, list[str]]:
    instance = SimulatedInstance(0, "i-0000000000000000a", "us-east-1a", "subnet-1", spec, PowerHistory(spec, T0))
    arns = ["tg-https", "tg-http"]
    for arn in arns:
        instance.targets[arn] = TargetRecord(443, T0, starts_healthy=True)
    return instance, arns


@settings(max_examples=300, deadline=None)
@given(spec=SPECS, actions=ACTIONS)
def test_model_never_reports_an_impossible_state(spec: InstanceSpec, actions: list[tuple[str, int]]) -> None:
    # GIVEN one instance in two target groups, and a shadow of the facts
    instance, arns = model_instance(spec)
    check = TargetHealthCheck(INTERVAL, HEALTHY_N, UNHEALTHY_N)
    shadow = Shadow(spec)
    now = T0
    for action, arg in actions:
        # WHEN a random action happens
        if action == "advance":
            now += arg / 10
        elif action == "register":
            instance.targets[arns[arg]].register(now, 443)
            shadow.register(arg, now)
        elif action == "deregister":
            instance.targets[arns[arg]].deregister(now, DELAY)
            shadow.deregister(arg, now)
        else:
            instance.power.request_reboot(now)
            shadow.reboot(now)
        # THEN every target's state is one the facts allow, and the OS is down exactly when they say
        for tg, arn in enumerate(arns):
            state = instance.target_view(arn, check, now).state
            assert state in shadow.allowed(tg, now), (action, now - T0, tg, state, shadow)
        assert instance.power.is_up(now) == (shadow.down_since(now) is None)
        connections = instance.lb_connections(dict.fromkeys(arns, check), now)
        if shadow.down_since(now) is not None:
            assert connections is None
        else:
            assert connections is not None and 0 <= connections <= spec.connections


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_api_never_reports_an_impossible_state(default_session: boto3.session.Session,
                                               actions: list[tuple[str, int]]) -> None:
    # GIVEN a two-instance fleet in moto, driven only through boto3
    spec = InstanceSpec(boot_seconds=60.0)
    with simulated_world(default_session, FleetSpec(size=2, leaking={}, default=spec)) as world:
        target = world.instance(0)
        arns = world.fleet.target_group_arns
        shadow = Shadow(spec)
        for action, arg in actions:
            # WHEN a random action happens through the API
            now = world.clock.now()
            if action == "advance":
                world.advance(arg / 10)
            elif action == "register":
                world.elbv2.register_targets(TargetGroupArn=arns[arg], Targets=[{"Id": target}])
                shadow.register(arg, now)
            elif action == "deregister":
                world.elbv2.deregister_targets(TargetGroupArn=arns[arg], Targets=[{"Id": target}])
                shadow.deregister(arg, now)
            else:
                world.ec2.reboot_instances(InstanceIds=[target])
                shadow.reboot(now)
            # THEN DescribeTargetHealth reports only states the facts allow (gone = unused when asked)
            now = world.clock.now()
            for tg, arn in enumerate(arns):
                state = world.health(arn, target)[target]["State"]
                allowed = {"unused" if s is None else s for s in shadow.allowed(tg, now)}
                assert state in allowed, (action, now - T0, tg, state, shadow)
        # AND the capacity timeline agrees with the target states at each of its instants
        for point in world.sim.capacity_timeline()[1:]:
            for arn in arns:
                healthy = sum(world.sim.target_state(i, arn, at=point.time) == "healthy"
                              for i in world.fleet.instance_ids)
                assert point.healthy[arn] == healthy
