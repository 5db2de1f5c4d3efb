"""A fleet simulator: the behaviour moto lacks, answered through the interceptor, on a virtual clock.

``build()`` creates the real resources in moto (VPC, subnets, an ALB, an HTTPS and an HTTP target group,
the instances, their registrations). ``install()`` then answers the calls whose AWS behaviour moto does
not model: target health over time, reboots that really take the OS down, stops and starts that take
time, Run Command output, the CloudWatch agent's metrics, and (with ``FleetSpec.auto_scaling``) the
fleet's Auto Scaling group. Nothing runs in the background: every answer is computed from recorded
events and the clock, so a workflow that waits minutes of virtual time sees a consistent world.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import threading
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3

from nightshift.runtime.interceptor import Interceptor
from nightshift.sim import moto_backend, routing, target_groups
from nightshift.sim.autoscaling import GROUP_NAME_TAG, AutoScalingGroup, iso_seconds
from nightshift.sim.call_rate import CallTimeline
from nightshift.sim.capacity import CapacityPoint, capacity_timeline
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.power import TERMINATE, PowerHistory
from nightshift.sim.run_command import Command
from nightshift.sim.spec import AutoScalingSpec, FleetSpec, InstanceSpec
from nightshift.sim.target_groups import SimulatedTargetGroup
from nightshift.sim.target_health import HealthCheck, TargetRecord
from nightshift.sim.world import FleetWorld

__all__ = ["AutoScalingSpec", "BuiltFleet", "CapacityPoint", "FleetSimulator", "FleetSpec", "InstanceSpec",
           "SimulatedTargetGroup"]

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
GROUP_TAG = "nightshift:group"
SPOT_WARNING_SECONDS = 120.0
SPOT_TERMINATED_AFTER = 30.0  # shutting-down, then terminated (the simulator's choice, as AutoScalingSpec's)
_JUST_BEFORE = 1e-3
MANAGED_TAG = "nightshift:managed"


@dataclass(frozen=True)
class BuiltFleet:
    name: str
    vpc_id: str
    subnet_ids: list[str]
    instance_ids: list[str]  # index order
    target_group_arns: list[str]  # HTTPS first, then HTTP
    load_balancer_arn: str
    availability_zones: dict[str, str] = field(default_factory=dict)  # instance id -> AZ
    # The fleet's Auto Scaling group (FleetSpec.auto_scaling), None without one. Instances it launches
    # later are not listed above (this is the fleet as built): see FleetSimulator.replacements().
    auto_scaling_group: str | None = None

    def group_declaration(self, **overrides: Any) -> dict[str, Any]:
        """This fleet as a group for steps/core/config.py; ``overrides`` add or replace top-level fields."""
        declaration: dict[str, Any] = {"name": self.name, "target_group_arns": list(self.target_group_arns)}
        declaration.update(overrides)
        return declaration


@functools.cache
def _build_session(region: str) -> boto3.session.Session:
    # A private session: its clients never pass through an interceptor on the default session, so building
    # is not mistaken for the workflow registering targets. Cached because loading service models costs
    # a third of a second per client on a fresh session.
    return boto3.session.Session(region_name=region)


# interceptor -> the simulators installed on it, in installation order
_PEERS: weakref.WeakKeyDictionary[Interceptor, list[FleetSimulator]] = weakref.WeakKeyDictionary()


class FleetSimulator:
    def __init__(self, spec: FleetSpec, clock: Callable[[], float]) -> None:
        self.spec = spec
        self._clock = clock
        # Answerers run on whatever thread makes the call (moto runs state machines in its own thread).
        self.lock = threading.RLock()
        self._instances: list[SimulatedInstance] = []
        self._by_id: dict[str, SimulatedInstance] = {}
        self._groups: dict[str, SimulatedTargetGroup] = {}
        self._built: BuiltFleet | None = None
        self.commands: dict[str, Command] = {}
        # Every DeregisterTargets this fleet answered: (target group ARN, the Targets as sent).
        self.deregister_requests: list[tuple[str, list[dict[str, Any]]]] = []
        self._api_calls: Counter[str] = Counter()
        # Every call on the clock, once per call (not per fleet): shared by the peers (see install()).
        self._timeline = CallTimeline()
        self.account_id = ""
        self.build_time = 0.0
        # Every simulator installed on the same interceptor, this one included (see install()).
        self._peers: list[FleetSimulator] = [self]
        self.auto_scaling: AutoScalingGroup | None = None
        self.image_ids: list[str] = []  # the fleet's AMIs (FleetSpec.image_count), launch template's first
        # EventBridge events EC2 emitted about this fleet (Spot interruption warnings); the ASG keeps its own.
        self.events: list[dict[str, Any]] = []

    # -- what the answerers use ------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def instance(self, instance_id: str) -> SimulatedInstance | None:
        return self._by_id.get(instance_id)

    def owner_of(self, instance_id: str) -> tuple[FleetSimulator, SimulatedInstance] | None:
        """The simulator (this one or a peer on the same interceptor) that owns an instance."""
        for sim in self._peers:
            instance = sim._by_id.get(instance_id)
            if instance is not None:
                return sim, instance
        return None

    def command(self, command_id: str) -> Command | None:
        """A Run Command sent through any simulator on the same interceptor."""
        for sim in self._peers:
            command = sim.commands.get(command_id)
            if command is not None:
                return command
        return None

    @property
    def instances(self) -> list[SimulatedInstance]:
        """Every instance ever in the fleet, index order: replacements join at the end, terminated ones stay."""
        return self._instances

    @property
    def peers(self) -> list[FleetSimulator]:
        return self._peers

    def target_group(self, tg_arn: str | None) -> SimulatedTargetGroup | None:
        return self._groups.get(tg_arn) if tg_arn else None

    @property
    def checks(self) -> dict[str, HealthCheck]:
        return {arn: group.check for arn, group in self._groups.items()}

    @property
    def history_start(self) -> float:
        return self.build_time - self.spec.metric_history_seconds

    def simulated_anywhere(self, tg_arn: str | None) -> bool:
        """Does this simulator or a peer on the same interceptor own the target group?"""
        return any(sim.target_group(tg_arn) is not None for sim in self._peers)

    def tally(self, operation: str, owners: Iterable[FleetWorld] = ()) -> None:
        """Count a call once for each fleet it concerns. Every simulator on the interceptor sees a call
        that concerns none of them, so only the first one counts it (as observed, passed to moto). An owner
        is always one of the peers (the answerers find owners among them). The call timeline
        (``call_timeline``) records each call once, at the clock's now, whichever fleets it concerns."""
        with self.lock:
            distinct = {id(owner) for owner in owners}
            for peer in self._peers:
                if id(peer) in distinct:
                    peer._api_calls[operation] += 1
            if not distinct and self is self._peers[0]:
                self._api_calls[operation] += 1
            if distinct or self is self._peers[0]:
                self._timeline.record(operation, self._clock())

    @property
    def built(self) -> BuiltFleet:
        if self._built is None:
            raise RuntimeError("FleetSimulator.build() has not run yet (call it inside mock_aws())")
        return self._built

    # -- building the fleet in moto --------------------------------------------------------------------

    def build(self) -> BuiltFleet:
        """Create the fleet in moto; call inside an active ``mock_aws()``."""
        if self._built is not None:
            raise RuntimeError("this simulator already built its fleet; create another for another fleet")
        spec = self.spec
        session = _build_session(spec.region)
        ec2 = session.client("ec2")
        elbv2 = session.client("elbv2")
        base = _NAME_UNSAFE.sub("-", spec.name)[:26].strip("-") or "fleet"
        tags = [{"Key": GROUP_TAG, "Value": spec.name}]
        if spec.managed_tag:
            tags.append({"Key": MANAGED_TAG, "Value": "true"})

        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": spec.name}, *tags]}])["Vpc"]["VpcId"]
        prefix = 16 + max(0, math.ceil(math.log2(len(spec.azs))))
        cidrs = list(ipaddress.ip_network("10.0.0.0/16").subnets(new_prefix=prefix))
        subnet_ids = [
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(cidr), AvailabilityZone=az, TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"{spec.name}-{az}"}, *tags]}],
            )["Subnet"]["SubnetId"]
            for az, cidr in zip(spec.azs, cidrs, strict=False)
        ]
        lb_arn = elbv2.create_load_balancer(
            Name=f"{base}-alb", Subnets=subnet_ids, Scheme="internal", Type="application", Tags=tags,
        )["LoadBalancers"][0]["LoadBalancerArn"]
        self.account_id = moto_backend.arn_account_region(lb_arn)[0]

        check = HealthCheck(spec.health_check_interval, spec.healthy_threshold, spec.unhealthy_threshold)
        tg_arns = []
        # (protocol, listener port, target port): the HTTP group's targets take traffic on the app's own port.
        group_ports = spec.target_group_ports or spec.target_ports
        for protocol, listener_port, port, group_port in (("HTTPS", 443, spec.target_ports[0], group_ports[0]),
                                                          ("HTTP", 80, spec.target_ports[1], group_ports[1])):
            arn = elbv2.create_target_group(
                Name=f"{base}-{protocol.lower()}", Protocol=protocol, Port=group_port, VpcId=vpc_id,
                TargetType="instance", HealthCheckProtocol=protocol, HealthCheckPath="/healthz",
                HealthCheckIntervalSeconds=spec.health_check_interval,
                # AWS requires the timeout to be shorter than the interval.
                HealthCheckTimeoutSeconds=max(2, min(5, spec.health_check_interval - 1)),
                HealthyThresholdCount=spec.healthy_threshold,
                UnhealthyThresholdCount=spec.unhealthy_threshold,
                Matcher={"HttpCode": "200"}, Tags=tags,
            )["TargetGroups"][0]["TargetGroupArn"]
            moto_backend.modify_target_group_attributes(
                arn, {moto_backend.DEREGISTRATION_DELAY: str(spec.deregistration_delay)})
            # A target group no listener forwards to reports every target `unused` (Target.NotInUse) on AWS.
            listener: dict[str, Any] = {"LoadBalancerArn": lb_arn, "Protocol": protocol, "Port": listener_port,
                                        "DefaultActions": [{"Type": "forward", "TargetGroupArn": arn}]}
            if protocol == "HTTPS":
                certificate = session.client("acm").request_certificate(
                    DomainName=f"{base.lower()}.nightshift.internal")["CertificateArn"]
                listener["Certificates"] = [{"CertificateArn": certificate}]
            elbv2.create_listener(**listener)
            self._groups[arn] = SimulatedTargetGroup(arn, f"{base}-{protocol.lower()}", protocol, group_port, check,
                                                     spec.deregistration_delay, target_port=port)
            tg_arns.append(arn)

        asg_name = None
        if spec.auto_scaling is not None:
            asg_name = f"{_NAME_UNSAFE.sub('-', spec.name).strip('-') or 'fleet'}-asg"
        instance_ids = self._launch(subnet_ids, asg_name)
        self.build_time = self.now()
        specs = spec.instance_specs()
        for index, instance_id in enumerate(instance_ids):
            lane = index % len(subnet_ids)
            instance_type, image = spec.type_and_image_index(index)
            instance = SimulatedInstance(
                index=index, instance_id=instance_id, availability_zone=spec.azs[lane],
                subnet_id=subnet_ids[lane], spec=specs[index], power=PowerHistory(specs[index], self.build_time),
                instance_type=instance_type, image_id=self.image_ids[image],
            )
            for arn, group in self._groups.items():
                instance.targets[arn] = TargetRecord(group.target_port, self.build_time, starts_healthy=True)
            self._instances.append(instance)
            self._by_id[instance_id] = instance
        for arn, group in self._groups.items():
            moto_backend.register_known_targets(arn, [(i, group.target_port) for i in instance_ids])
        self._describe_as_aws(instance_ids, specs)

        if spec.auto_scaling is not None and asg_name is not None:
            # Not created in moto (moto's group would launch instances of its own and model Standby
            # wrongly): the simulator answers every call about it.
            arn = (f"arn:aws:autoscaling:{spec.region}:{self.account_id}:autoScalingGroup:{uuid.uuid4()}:"
                   f"autoScalingGroupName/{asg_name}")
            self.auto_scaling = AutoScalingGroup.create(
                asg_name, arn, spec.auto_scaling, instance_ids, tg_arns, list(spec.azs[:len(subnet_ids)]),
                subnet_ids, self.build_time, self)
            if spec.managed_tag:
                self.auto_scaling.tags[MANAGED_TAG] = "true"

        self._built = BuiltFleet(
            name=spec.name, vpc_id=vpc_id, subnet_ids=subnet_ids, instance_ids=instance_ids,
            target_group_arns=tg_arns, load_balancer_arn=lb_arn,
            availability_zones={i.instance_id: i.availability_zone for i in self._instances},
            auto_scaling_group=asg_name,
        )
        return self._built

    def _describe_as_aws(self, instance_ids: list[str], specs: list[InstanceSpec]) -> None:
        """What DescribeInstances says of the fleet where moto's answer differs: RootDeviceType, LaunchTime."""
        region = self.spec.region
        for instance_id, instance_spec in zip(instance_ids, specs, strict=True):
            if instance_spec.root_device != "ebs":
                moto_backend.set_root_device_type(self.account_id, region, instance_id, instance_spec.root_device)
            if instance_spec.spot is not None:
                moto_backend.set_spot(self.account_id, region, instance_id)
        # Running since their metric history began, long before build(): their LaunchTime, on the virtual clock.
        moto_backend.set_launch_times(self.account_id, region, dict.fromkeys(instance_ids, self.history_start))

    def _tags(self, asg_name: str | None) -> dict[str, str]:
        tags = {GROUP_TAG: self.spec.name}
        if self.spec.managed_tag:
            tags[MANAGED_TAG] = "true"
        if asg_name is not None:
            tags[GROUP_NAME_TAG] = asg_name  # AWS tags every group member with it
        return tags

    def _name_tag(self, index: int) -> dict[str, str]:
        width = max(2, len(str(self.spec.size - 1)))
        return {"Name": f"{self.spec.name}-{index:0{width}d}"}

    def _launch(self, subnet_ids: list[str], asg_name: str | None) -> list[str]:
        """Launch ``size`` instances round-robin over the subnets, each with its type and AMI (FleetSpec
        .instance_types, .image_count); returns ids in index order. One backend call per (subnet, type, AMI)."""
        spec = self.spec
        lanes = len(subnet_ids)
        self.image_ids = moto_backend.image_ids(self.account_id, spec.region, spec.image_count)
        batches: dict[tuple[int, str, int], list[int]] = {}
        for index in range(spec.size):
            instance_type, image = spec.type_and_image_index(index)
            batches.setdefault((index % lanes, instance_type, image), []).append(index)
        instance_ids = [""] * spec.size
        for (lane, instance_type, image), indexes in batches.items():
            launched = moto_backend.launch_instances(
                self.account_id, spec.region, self.image_ids[image], subnet_ids[lane], len(indexes),
                instance_type, self._tags(asg_name),
            )
            for index, instance_id in zip(indexes, launched, strict=True):
                instance_ids[index] = instance_id
        for index, instance_id in enumerate(instance_ids):
            moto_backend.tag_resources(self.account_id, spec.region, [instance_id], self._name_tag(index))
        return instance_ids

    # -- what the Auto Scaling group does to the fleet (autoscaling.Host) ---------------------------------

    def asg_deregister(self, instance_id: str, tg_arns: list[str], at: float) -> float:
        instance = self._require(instance_id)
        drained = at
        for arn in tg_arns:
            group = self._groups[arn]
            drained = max(drained, target_groups.deregister(group, [instance], at))
            record = instance.targets.get(arn)
            if record is not None and record.registrations[0].registered_at > at:
                # A replacement leaving before it went InService: its registration never happens.
                del instance.targets[arn]
                moto_backend.deregister_targets(arn, [instance_id])
        return drained

    def asg_register(self, instance_id: str, tg_arns: list[str], at: float) -> None:
        instance = self._require(instance_id)
        for arn in tg_arns:
            group = self._groups[arn]
            target_groups.register(group, [(instance, group.port)], at)

    def asg_launch(self, like_instance_id: str, at: float, in_service_at: float, tg_arns: list[str]) -> str:
        like = self._require(like_instance_id)
        spec = self.spec
        image_id = self.image_ids[0]  # the launch template's AMI and type
        asg_name = self.auto_scaling.name if self.auto_scaling is not None else None
        [instance_id] = moto_backend.launch_instances(self.account_id, spec.region, image_id, like.subnet_id, 1,
                                                      spec.instance_type, self._tags(asg_name))
        index = len(self._instances)
        moto_backend.tag_resources(self.account_id, spec.region, [instance_id], self._name_tag(index))
        moto_backend.set_launch_times(self.account_id, spec.region, {instance_id: at})
        # A fresh instance from the launch template: the fleet's default behaviour, booting from `at`.
        instance = SimulatedInstance(
            index=index, instance_id=instance_id, availability_zone=like.availability_zone,
            subnet_id=like.subnet_id, spec=spec.default,
            power=PowerHistory(spec.default, first_boot=at, launched_at=at),
            instance_type=spec.instance_type, image_id=image_id,
        )
        for arn in tg_arns:
            group = self._groups[arn]
            # The group registers it when it goes InService; until then DescribeTargetHealth does not list it.
            instance.targets[arn] = TargetRecord(group.port, in_service_at, starts_healthy=False)
            # moto's list is only kept for its validation; the simulator answers DescribeTargetHealth.
            moto_backend.register_known_targets(arn, [(instance_id, group.port)])
        self._instances.append(instance)
        self._by_id[instance_id] = instance
        return instance_id

    def asg_terminate(self, instance_id: str, requested_at: float, shuts_down_at: float,
                      terminated_at: float) -> None:
        self._require(instance_id).power.terminate(requested_at, shuts_down_at, terminated_at)

    def asg_retime_termination(self, instance_id: str, shuts_down_at: float, terminated_at: float) -> None:
        self._require(instance_id).power.retime_termination(shuts_down_at, terminated_at)

    # -- terminations from outside: a scale-in, a Spot interruption ------------------------------------------

    def scale_in(self, instance_id: str) -> dict[str, Any] | None:
        """The Auto Scaling group terminates ``instance_id`` in a scale-in; with a termination lifecycle hook the
        "EC2 Instance-terminate Lifecycle Action" event it emits (the caller delivers it to the trigger)."""
        with self.lock:
            return self._group().scale_in(instance_id, self.now())

    def spot_interrupt(self, instance_id: str, action: str = "terminate") -> dict[str, Any]:
        """EC2 interrupts the Spot instance ``instance_id``: the "EC2 Spot Instance Interruption Warning" event now,
        the interruption two minutes later ("a warning that is issued two minutes before Amazon EC2 stops or
        terminates your Spot Instance", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).
        ``action`` is the event's ``instance-action``: ``terminate`` shuts it down at the end of the two minutes and
        terminates it ``TERMINATED_AFTER`` later; ``stop`` stops it then (``stopped`` after the spec's
        ``stop_seconds``); ``hibernate`` stops it at once ("you do not receive a two-minute warning because the
        hibernation process begins immediately", same page). A stopped or hibernated one runs again only when the
        test says EC2 restarts it (``spot_restart``)."""
        if action not in ("terminate", "stop", "hibernate"):
            raise ValueError(f"instance-action {action!r}: terminate, stop or hibernate")
        with self.lock:
            now = self.now()
            instance = self._require(instance_id)
            goes_at = now + (0 if action == "hibernate" else SPOT_WARNING_SECONDS)
            if action == "terminate":
                instance.power.terminate(now, goes_at, goes_at + SPOT_TERMINATED_AFTER)
            else:
                instance.power.interrupt_stop(now, goes_at)
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "EC2 Spot Instance Interruption Warning",
                     "source": "aws.ec2", "account": self.account_id, "time": iso_seconds(now),
                     "region": self.spec.region,
                     "resources": [f"arn:aws:ec2:{instance.availability_zone}:instance/{instance_id}"],
                     "detail": {"instance-id": instance_id, "instance-action": action}}
            self.events.append(event)
            return event

    def spot_restart(self, instance_id: str) -> bool:
        """EC2 restarts (resumes) the Spot instance it stopped (hibernated) in an interruption, capacity being back:
        "Only Amazon EC2 can restart an interrupted stopped Spot Instance" and, for a persistent request, "Amazon EC2
        restarts the stopped instance when capacity is available"
        (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/interruption-behavior.html; hibernated: "only Amazon
        EC2 can resume it", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/hibernating-resuming.html). The
        simulator's own action (no API call); False unless the instance is ``stopped``."""
        with self.lock:
            return self._require(instance_id).power.ec2_restart(self.now())

    def requests_cut(self, instance_id: str) -> int | None:
        """Load balancer connections (requests in flight) the instance still had when its OS went down for good in
        a termination: 0 when the drain let them finish; None while it has not gone down yet."""
        with self.lock:
            instance = self._require(instance_id)
            outage = next((o for o in reversed(instance.power.outages) if o.kind == TERMINATE), None)
            if outage is None or outage.stops_serving_at > self.now():
                return None
            return instance.lb_connections(self.checks, outage.stops_serving_at - _JUST_BEFORE) or 0

    def lifecycle_action(self, instance_id: str) -> Any:
        """The termination lifecycle action of ``instance_id`` (nightshift/sim/autoscaling.py), or None."""
        with self.lock:
            return self._group().lifecycle_actions.get(instance_id)

    # -- answering AWS calls ---------------------------------------------------------------------------

    def install(self, interceptor: Interceptor) -> None:
        """Answer ELBv2, EC2, SSM and CloudWatch calls for this fleet on ``interceptor``'s emitter.

        botocore copies the event emitter into each client when the client is created, so install before
        creating any client whose calls must be answered.
        """
        from nightshift.sim import autoscaling_api, cloudwatch_api, ec2_api, elbv2_api, ssm_api

        self.built  # noqa: B018 - fail now, not at the first call, when build() was forgotten
        peers = _PEERS.setdefault(interceptor, [])
        if self in peers:
            raise RuntimeError("this simulator is already installed on that interceptor")
        # Several fleets on one interceptor answer as one world: botocore asks each answerer in turn and
        # stops at the first answer, so a call spanning fleets (a reboot of two groups' instances, a
        # command id another fleet issued) must be resolvable by whichever simulator is asked first.
        # They share one lock because an answer may touch a peer's instances.
        if peers:
            self.lock = peers[0].lock
            self._timeline = peers[0]._timeline  # AWS throttles per account and Region, not per fleet
        peers.append(self)
        self._peers = peers
        for module in (elbv2_api, ec2_api, ssm_api, cloudwatch_api, autoscaling_api):
            module.install(self, interceptor)

    # -- introspection for tests, the demo and benchmarks ----------------------------------------------

    def _require(self, instance_id: str) -> SimulatedInstance:
        instance = self._by_id.get(instance_id)
        if instance is None:
            raise KeyError(f"{instance_id} is not an instance of fleet {self.spec.name!r}")
        return instance

    def target_state(self, instance_id: str, tg_arn: str, at: float | None = None) -> str | None:
        """The state DescribeTargetHealth reports at ``at`` (default now); None = not registered."""
        with self.lock:
            group = self._groups[tg_arn]
            return self._require(instance_id).target_view(tg_arn, group.check,
                                                          self.now() if at is None else at).state

    def routed_targets(self, tg_arn: str, at: float | None = None) -> set[str]:
        """The instances the load balancer sends requests to in a target group at ``at`` (default now): the
        healthy ones, and every unhealthy one where the target group (or its zone, cross-zone off) fails open
        (nightshift/sim/routing.py, which cites AWS). The fleet's load balancer is an Application Load Balancer:
        cross-zone is on unless the target group turns it off."""
        with self.lock:
            group = self._groups[tg_arn]
            when = self.now() if at is None else at
            states = {}
            for instance in self._instances:
                if tg_arn in instance.targets:
                    state = instance.target_view(tg_arn, group.check, when).state
                    if state is not None:
                        states[instance.instance_id] = state
            zones = {i.instance_id: i.availability_zone for i in self._instances}
            return routing.routed_targets(states, zones, target_groups.attributes(group), True)

    def is_up(self, instance_id: str, at: float | None = None) -> bool:
        with self.lock:
            return self._require(instance_id).power.is_up(self.now() if at is None else at)

    def boot_time(self, instance_id: str, at: float | None = None) -> float:
        with self.lock:
            return self._require(instance_id).power.boot_time(self.now() if at is None else at)

    def agent_dimensions(self, instance_id: str) -> list[dict[str, str]]:
        """The full dimension set the instance's CloudWatch agent publishes with, as GetMetricData takes it."""
        from nightshift.sim.agent_dimensions import dimension_sets

        with self.lock:
            owner = self.owner_of(instance_id)
            if owner is None:
                raise KeyError(f"{instance_id} is not a simulated instance")
            return [{"Name": k, "Value": v} for k, v in dimension_sets(owner[0], owner[1])[0]]

    def memory_percent(self, instance_id: str, at: float | None = None) -> float | None:
        with self.lock:
            return self._require(instance_id).memory_percent(self.now() if at is None else at)

    def connections(self, instance_id: str, at: float | None = None) -> int | None:
        """The load balancer's established connections to the instance (requests in flight)."""
        with self.lock:
            return self._require(instance_id).lb_connections(self.checks, self.now() if at is None else at)

    def host_connections(self, instance_id: str, at: float | None = None) -> int | None:
        """Every established connection of the host (the agents', SSH, loopback...): netstat's count."""
        with self.lock:
            return self._require(instance_id).established_connections(self.checks,
                                                                      self.now() if at is None else at)

    def reboots(self, instance_id: str) -> list[float]:
        """When reboots really happened (the kernel restarted), up to now."""
        with self.lock:
            now = self.now()
            return [t for t in self._require(instance_id).power.resets() if t <= now]

    def reboot_requests(self, instance_id: str) -> list[float]:
        with self.lock:
            return list(self._require(instance_id).power.requests)

    def stop_start_requests(self, instance_id: str) -> list[tuple[str, float]]:
        """("stop" | "start", when) for every StopInstances/StartInstances accepted, no-ops included."""
        with self.lock:
            return list(self._require(instance_id).power.stop_start)

    def instance_state(self, instance_id: str, at: float | None = None) -> str:
        """The EC2 state name (pending, running, stopping, stopped, shutting-down, terminated) at ``at``."""
        with self.lock:
            return self._require(instance_id).ec2_state(self.now() if at is None else at)

    def asg_lifecycle(self, instance_id: str, at: float | None = None) -> str | None:
        """The Auto Scaling lifecycle state at ``at``; None: not in the group (or no group)."""
        with self.lock:
            self._require(instance_id)
            if self.auto_scaling is None:
                return None
            return self.auto_scaling.lifecycle(instance_id, self.now() if at is None else at)

    def asg_desired_capacity(self) -> int:
        with self.lock:
            return self._group().desired

    def replacements(self) -> list[str]:
        """Instance ids the Auto Scaling group launched, in launch order."""
        with self.lock:
            return list(self._group().replacements)

    def _group(self) -> AutoScalingGroup:
        if self.auto_scaling is None:
            raise RuntimeError(f"fleet {self.spec.name!r} has no Auto Scaling group (FleetSpec.auto_scaling)")
        return self.auto_scaling

    def capacity_timeline(self) -> list[CapacityPoint]:
        with self.lock:
            return capacity_timeline(self._instances, self.checks, self.build_time, self.now())

    def min_healthy_seen(self, tg_arn: str) -> int:
        return min(point.healthy[tg_arn] for point in self.capacity_timeline())

    def leaking_instance_ids(self) -> list[str]:
        return [i.instance_id for i in self._instances if i.spec.leak_to_percent is not None]

    def inflight_end(self, instance_id: str) -> float | None:
        with self.lock:
            return self._require(instance_id).inflight_end()

    def physical_remediation_seconds(self, instance_id: str, started_at: float) -> float | None:
        """The least time a remediation started at ``started_at`` could take on this instance: its last
        in-flight request ends, the OS resets (queue or hard-reboot delay) and boots, and the target
        passes HealthyThresholdCount checks. None when in-flight work never ends."""
        with self.lock:
            instance = self._require(instance_id)
            end = instance.inflight_end()
            if end is None:
                if instance.spec.inflight_seconds is None:
                    return None
                end = started_at + instance.spec.inflight_seconds
            spec = instance.spec
            reset = spec.hard_reboot_after_seconds if spec.hard_reboot_after_seconds is not None \
                else spec.reboot_queue_seconds
            check = HealthCheck(self.spec.health_check_interval, self.spec.healthy_threshold,
                                self.spec.unhealthy_threshold)
            return (end - started_at) + reset + spec.boot_seconds + check.healthy_after

    def api_calls(self) -> Counter[str]:
        """"<client name>.<Operation>" -> calls about this fleet, plus (for the first simulator on an
        interceptor) calls about nothing simulated that passed through to moto."""
        with self.lock:
            return Counter(self._api_calls)

    def call_timeline(self) -> CallTimeline:
        """A copy of the calls on the virtual clock, by operation: every call the simulators on this
        interceptor saw, counted once (AWS throttles per account and Region). Read it with
        ``nightshift.sim.call_rate`` (calls per minute, peak calls per second, ``rate_rows`` against the
        documented limits)."""
        with self.lock:
            return self._timeline.copy()
