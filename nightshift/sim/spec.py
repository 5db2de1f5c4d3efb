"""The knobs of a simulated fleet: what each instance does, and how the load balancer judges it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Literal

# The documented bounds AWS enforces on an ALB target group; the simulator refuses what AWS would refuse
# so a scenario cannot depend on a configuration that could never exist.
DEREGISTRATION_DELAY_MAX = 3600
HEALTH_CHECK_INTERVAL_RANGE = (5, 300)
THRESHOLD_RANGE = (2, 10)
# "If an instance does not cleanly shut down within a few minutes, Amazon EC2 performs a hard reboot"
# (RebootInstances): AWS gives no number; four minutes is our assumption.
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RebootInstances.html
HUNG_HARD_REBOOT_SECONDS = 240.0
# Faults under which the OS does not answer (no agent, no metrics, health checks time out).
UNRESPONSIVE_FAULTS = frozenset({"hung", "instance_impaired", "system_impaired"})


@dataclass(frozen=True)
class InstanceSpec:
    """How one instance behaves; every duration is in (virtual) seconds."""

    memory_percent: float = 40.0
    # A leaking instance is already at this level when the fleet is built; a real reboot resets it.
    leak_to_percent: float | None = None
    # None: the reboot cures the leak. A number: memory climbs back linearly over this long after boot.
    leak_returns_after_seconds: float | None = None
    # With leak_returns_after_seconds: how far into that climb the instance is when the fleet is built (seconds
    # since its last boot), so a fleet can start with its instances at different points of their cycle (a
    # steady state). None: already at leak_to_percent when built, as a leaking instance is by default.
    leak_elapsed_at_build: float | None = None
    connections: int = 20
    # After deregistration connections decay linearly to 0 over this long; None = they never finish.
    # (`connections` are the load balancer's; see sockets.py for everything else a host holds open.)
    inflight_seconds: float | None = 0.0
    # RebootInstances only queues the reboot: the OS goes down this long after the call.
    reboot_queue_seconds: float = 5.0
    # A hung OS never shuts down cleanly; AWS hard-reboots it this long after the call.
    hard_reboot_after_seconds: float | None = None
    boot_seconds: float = 60.0
    # StopInstances: the OS shuts down cleanly at once, EC2 reports `stopping` this long, then `stopped`.
    stop_seconds: float = 20.0
    # After a reboot the app never passes health checks again (fault injection).
    app_fails: bool = False
    # With app_fails: a stop/start moves the instance to a new host, which cures it (the escalation works).
    # False: the fault travels with the instance (its volume, its config) and a stop/start changes nothing.
    new_host_cures: bool = True
    ssm_online: bool = True
    # The SSM and CloudWatch agents, an SSH session, a database pool and loopback connections on the
    # service ports (a local proxy, a sidecar): connections a real host holds that never end (sockets.py).
    background_connections: bool = True
    # Of the load balancer's connections still open on each port of a draining target, up to this many are
    # half-closed by the client (it sent its request, then its FIN; possible through an NLB passing client
    # connections through): CLOSE-WAIT on this host, the response still owed. ss's 'state established'
    # misses them.
    close_wait_connections: int = 0
    # ss fails on this host (missing, an iproute2 too old for -H, out of memory): it prints nothing on stdout
    # and exits non-zero, so the drain script's exit status decides what Run Command reports (sockets.count).
    ss_fails: bool = False
    # Health-check flaps: (start, end) windows, in seconds after the instance's first boot (build() for the
    # fleet as built), in which its app fails the load balancer's health checks while the OS stays up (a
    # dependency down, a long GC pause). The target turns unhealthy after UnhealthyThresholdCount failed
    # checks and healthy again after HealthyThresholdCount passed ones (target_health.py), as AWS documents:
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    health_check_failures: tuple[tuple[float, float], ...] = ()
    # A failure already under way (or starting) ``fault_at`` seconds after build() (negative: before it), until
    # what cures it (docs/aws-behaviour.md, "Failing instances"):
    # - "app_failing": the app fails the load balancer's health checks (Target.FailedHealthChecks after
    #   UnhealthyThresholdCount x interval); the OS, its agents and EC2's status checks stay fine. A reboot or a
    #   stop/start (the app restarts) cures it.
    # - "hung": the OS hangs: no metric datapoints, the SSM agent offline (SendCommand refused), health checks
    #   time out (Target.Timeout); status checks stay ok. RebootInstances hard-reboots it (it cannot shut down
    #   cleanly) after hard_reboot_after_seconds (default HUNG_HARD_REBOOT_SECONDS), which cures it.
    # - "instance_impaired": as hung, and DescribeInstanceStatus says InstanceStatus impaired (ImpairedSince the
    #   fault's start); a reboot or a stop/start cures it.
    # - "system_impaired": the host fails: as hung, and SystemStatus impaired; a reboot (same host) does not
    #   cure it, a stop/start (a new host) does.
    # The root device: "ebs" (moto's answer for every instance) or "instance-store", which DescribeInstances then
    # reports as RootDeviceType and StopInstances refuses: "You can't stop an instance store-backed instance"
    # (UnsupportedOperation); https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StopInstances.html
    root_device: Literal["ebs", "instance-store"] = "ebs"
    # A Spot Instance (DescribeInstances InstanceLifecycle "spot") and its request's type. "You can only stop a
    # Spot Instance if it was launched from a persistent Spot Instance request": StopInstances on one of a
    # one-time request is refused (UnsupportedOperation).
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-instances-request.html#stopping-a-spot-instance
    spot: Literal["one-time", "persistent"] | None = None
    fault: Literal["app_failing", "hung", "instance_impaired", "system_impaired"] | None = None
    fault_at: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.memory_percent <= 100.0:
            problems.append(f"memory_percent must be 0-100, got {self.memory_percent}")
        if self.leak_to_percent is not None and not 0.0 <= self.leak_to_percent <= 100.0:
            problems.append(f"leak_to_percent must be 0-100, got {self.leak_to_percent}")
        problems += self._leak_problems()
        if self.connections < 0:
            problems.append(f"connections must be >= 0, got {self.connections}")
        if self.close_wait_connections < 0:
            problems.append(f"close_wait_connections must be >= 0, got {self.close_wait_connections}")
        if self.inflight_seconds is not None and self.inflight_seconds < 0:
            problems.append(f"inflight_seconds must be >= 0 or None, got {self.inflight_seconds}")
        if self.reboot_queue_seconds < 0 or self.boot_seconds < 0 or self.stop_seconds < 0:
            problems.append("reboot_queue_seconds, boot_seconds and stop_seconds must be >= 0")
        if self.hard_reboot_after_seconds is not None and self.hard_reboot_after_seconds < self.reboot_queue_seconds:
            problems.append("hard_reboot_after_seconds must be >= reboot_queue_seconds (the hang starts at shutdown)")
        problems += [f"health_check_failures windows must be (start, end) with 0 <= start < end, both finite, "
                     f"got {window}" for window in self.health_check_failures
                     if len(window) != 2 or not 0 <= window[0] < window[1] or not math.isfinite(window[1])]
        problems += self._fault_problems()
        if problems:
            raise ValueError("InstanceSpec: " + "; ".join(problems))

    def _leak_problems(self) -> list[str]:
        problems = []
        if self.leak_returns_after_seconds is not None:
            if self.leak_to_percent is None:
                problems.append("leak_returns_after_seconds needs leak_to_percent (what would come back?)")
            if self.leak_returns_after_seconds <= 0:
                problems.append("leak_returns_after_seconds must be > 0")
        if self.leak_elapsed_at_build is not None:
            if self.leak_returns_after_seconds is None:
                problems.append("leak_elapsed_at_build needs leak_returns_after_seconds (the climb it is part of)")
            if not (self.leak_elapsed_at_build >= 0 and math.isfinite(self.leak_elapsed_at_build)):
                problems.append(f"leak_elapsed_at_build must be a finite number >= 0, got {self.leak_elapsed_at_build}")
        return problems

    def _fault_problems(self) -> list[str]:
        problems = []
        if self.fault not in (None, "app_failing", "hung", "instance_impaired", "system_impaired"):
            problems.append(f"fault must be None, 'app_failing', 'hung', 'instance_impaired' or 'system_impaired', "
                            f"got {self.fault!r}")
        if not math.isfinite(self.fault_at):
            problems.append(f"fault_at must be a finite number of seconds after build, got {self.fault_at}")
        return problems

    @property
    def hung(self) -> bool:
        return self.hard_reboot_after_seconds is not None


@dataclass(frozen=True)
class TerminationHookSpec:
    """A termination lifecycle hook on the fleet's Auto Scaling group (PutLifecycleHook
    autoscaling:EC2_INSTANCE_TERMINATING). AWS takes a HeartbeatTimeout of 30-7200 s (default 3600):
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html"""

    name: str = "nightshift-drain"
    heartbeat_timeout: int = 3600
    default_result: Literal["CONTINUE", "ABANDON"] = "CONTINUE"

    def __post_init__(self) -> None:
        if not 30 <= self.heartbeat_timeout <= 7200:
            raise ValueError(f"TerminationHookSpec: heartbeat_timeout must be 30-7200 s, got {self.heartbeat_timeout}")


@dataclass(frozen=True)
class AutoScalingSpec:
    """The fleet as one Auto Scaling group, whose behaviour the simulator owns (moto's does not follow AWS).

    Every fleet instance is an InService member and DesiredCapacity is the fleet's size. The sizes are
    checked against the fleet in FleetSpec, with the messages CreateAutoScalingGroup would give.
    """

    min_size: int = 1
    max_size: int | None = None  # None: the fleet's size + 2
    # True: the group's TargetGroupARNs are both target groups (it (de)registers members itself).
    attach_target_groups: bool = True
    # A replacement is Pending (booting) this long, then InService and registered in the attached groups.
    launch_seconds: float = 90.0
    # After its deregistration delay a terminating instance shuts down; this long later it is terminated.
    terminate_seconds: float = 30.0
    # Fault injection: seconds after build() during which a scaling activity / an instance refresh runs.
    activity_in_progress: tuple[float, float] | None = None
    instance_refresh_in_progress: tuple[float, float] | None = None
    # A termination lifecycle hook: a scale-in puts the instance in Terminating:Wait until the action is completed
    # or the hook times out (nightshift/sim/autoscaling.py).
    termination_hook: TerminationHookSpec | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.min_size < 0:
            problems.append(f"min_size must be >= 0, got {self.min_size}")
        if self.max_size is not None and self.max_size < self.min_size:
            problems.append(f"max_size {self.max_size} must be >= min_size {self.min_size}")
        for name in ("launch_seconds", "terminate_seconds"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                problems.append(f"{name} must be a finite number >= 0, got {value}")
        for name in ("activity_in_progress", "instance_refresh_in_progress"):
            window = getattr(self, name)
            if window is not None and (len(window) != 2 or not 0 <= window[0] < window[1]):
                problems.append(f"{name} must be (start, end) seconds after build with 0 <= start < end, "
                                f"got {window}")
        if problems:
            raise ValueError("AutoScalingSpec: " + "; ".join(problems))

    def max_for(self, size: int) -> int:
        return self.max_size if self.max_size is not None else size + 2


def _default_leaking() -> dict[int, InstanceSpec]:
    return {5: InstanceSpec(leak_to_percent=85.0)}


@dataclass(frozen=True)
class FleetSpec:
    """One group: instances spread over AZs behind one ALB with an HTTPS and an HTTP target group."""

    name: str = "web"
    size: int = 12
    azs: tuple[str, ...] = ("us-east-1a", "us-east-1b", "us-east-1c")
    deregistration_delay: int = 300
    # The ports the HTTPS and the HTTP target group register their targets on (listeners stay on 443 and
    # 80): by default the app takes the HTTP group's traffic on its own port 8080, not on 80.
    target_ports: tuple[int, int] = (443, 8080)
    # The target groups' own Port (HTTPS, HTTP); None: the same as target_ports. Different: every fleet
    # instance is registered with a port override (target_ports), which DeregisterTargets must then name.
    target_group_ports: tuple[int, int] | None = None
    health_check_interval: int = 10
    healthy_threshold: int = 3
    unhealthy_threshold: int = 2
    # instance index -> its exact behaviour; every other instance gets `default` with seeded jitter.
    leaking: dict[int, InstanceSpec] = field(default_factory=_default_leaking)
    default: InstanceSpec = field(default_factory=InstanceSpec)
    seed: int = 7
    region: str = "us-east-1"
    # Instance types and AMIs, assigned by index (instance i: instance_types[i % len], and the AMI
    # (i // len(instance_types)) % image_count), so the default fleet mixes types and AMIs as real fleets do.
    # An Auto Scaling replacement gets the first of each (its launch template).
    instance_types: tuple[str, ...] = ("t3.micro", "t3.small", "m5.large")
    image_count: int = 2
    # The CloudWatch agent's dimensions on every metric it publishes: "wizard" is the configuration wizard's
    # append_dimensions (InstanceId, ImageId, InstanceType, and AutoScalingGroupName in an Auto Scaling group);
    # "instance_id" is InstanceId alone (append_dimensions {"InstanceId": "${aws:InstanceId}"}).
    agent_dimensions: Literal["wizard", "instance_id"] = "wizard"
    # The agent's aggregation_dimensions [["InstanceId"]]: each metric is published a second time, rolled up
    # to InstanceId alone, next to the full dimension set.
    aggregate_by_instance_id: bool = False
    # Metrics exist this far back before build(), so a workflow can judge the fleet the moment it starts.
    metric_history_seconds: float = 3600.0
    # The CloudWatch agent's collection intervals (metrics_collection_interval; the agent's default is 60 s)
    # for the two metrics the simulator publishes. Below 60 s the agent publishes the metric at high
    # resolution (StorageResolution 1); at 60 s or more it is standard resolution, one datapoint a minute.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html
    memory_sample_seconds: int = 60
    connections_sample_seconds: int = 10
    # How long after the agent collects a sample GetMetricData can read it (agent buffering + CloudWatch
    # ingestion). AWS documents no number: 60 s is our assumption of a realistic value, not AWS's.
    metric_ingestion_delay_seconds: float = 60.0
    # How long a delivered Run Command takes to produce its output.
    command_run_seconds: float = 1.0
    # The fleet as an Auto Scaling group (None: plain instances, as before).
    auto_scaling: AutoScalingSpec | None = None
    # Tag the target groups, instances and Auto Scaling group nightshift:managed=true, as docs/deploy.md
    # asks operators to (Nightshift's IAM policies allow mutating calls only on tagged resources).
    managed_tag: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.size < 1:
            problems.append(f"size must be >= 1, got {self.size}")
        if not self.azs:
            problems.append("azs must name at least one availability zone")
        if len(self.target_ports) != 2 or not all(1 <= p <= 65535 for p in self.target_ports):
            problems.append(f"target_ports must be two ports 1-65535 (HTTPS, HTTP), got {self.target_ports}")
        if self.target_group_ports is not None and (
                len(self.target_group_ports) != 2 or not all(1 <= p <= 65535 for p in self.target_group_ports)):
            problems.append(f"target_group_ports must be None or two ports 1-65535 (HTTPS, HTTP), "
                            f"got {self.target_group_ports}")
        if not 0 <= self.deregistration_delay <= DEREGISTRATION_DELAY_MAX:
            problems.append(f"deregistration_delay must be 0-{DEREGISTRATION_DELAY_MAX} (AWS's range)")
        low, high = HEALTH_CHECK_INTERVAL_RANGE
        if not low <= self.health_check_interval <= high:
            problems.append(f"health_check_interval must be {low}-{high} s (AWS's range)")
        low, high = THRESHOLD_RANGE
        for name in ("healthy_threshold", "unhealthy_threshold"):
            if not low <= getattr(self, name) <= high:
                problems.append(f"{name} must be {low}-{high} (AWS's range)")
        outside = sorted(i for i in self.leaking if not 0 <= i < self.size)
        if outside:
            problems.append(
                f"leaking names instance indexes {outside} outside a fleet of {self.size}; "
                "pass leaking={} or indexes below size"
            )
        problems += self._agent_problems()
        if self.auto_scaling is not None:
            asg = self.auto_scaling
            maximum = asg.max_for(self.size)
            # CreateAutoScalingGroup's own wording: the desired capacity (the fleet) must fit the sizes.
            if not asg.min_size <= self.size <= maximum:
                problems.append(f"Desired capacity:{self.size} must be between the specified min size:"
                                f"{asg.min_size} and max size:{maximum} (auto_scaling against size)")
        if problems:
            raise ValueError("FleetSpec: " + "; ".join(problems))

    def _agent_problems(self) -> list[str]:
        problems = []
        if not self.instance_types or self.image_count < 1:
            problems.append("instance_types must name at least one type and image_count must be >= 1")
        if self.agent_dimensions not in ("wizard", "instance_id"):
            problems.append(f"agent_dimensions must be 'wizard' or 'instance_id', got {self.agent_dimensions!r}")
        if self.memory_sample_seconds < 1 or self.connections_sample_seconds < 1:
            problems.append("metric sample intervals must be >= 1 s")
        if not (self.metric_ingestion_delay_seconds >= 0 and math.isfinite(self.metric_ingestion_delay_seconds)):
            problems.append(f"metric_ingestion_delay_seconds must be a finite number >= 0, "
                            f"got {self.metric_ingestion_delay_seconds}")
        return problems

    @property
    def instance_type(self) -> str:
        """The launch template's type (what an Auto Scaling replacement gets)."""
        return self.instance_types[0]

    def type_and_image_index(self, index: int) -> tuple[str, int]:
        """Instance ``index``'s type and the index of its AMI (see instance_types)."""
        return self.instance_types[index % len(self.instance_types)], (index // len(self.instance_types)) % \
            self.image_count

    def instance_specs(self) -> list[InstanceSpec]:
        """Every instance's effective behaviour, index order; the same seed always gives the same fleet."""
        rng = random.Random(self.seed)
        specs = []
        for index in range(self.size):
            # Draw for every index, overridden or not, so adding an override never shifts the others.
            memory_jitter = rng.uniform(-10.0, 15.0)
            connection_factor = rng.uniform(0.75, 1.25)
            override = self.leaking.get(index)
            if override is not None:
                specs.append(override)
                continue
            specs.append(replace(
                self.default,
                memory_percent=min(99.0, max(1.0, self.default.memory_percent + memory_jitter)),
                connections=round(self.default.connections * connection_factor),
            ))
        return specs
