"""The fleet's Auto Scaling group: lifecycle states over time, Standby, health-driven replacement, activities.

moto 5.2.5 gets the parts the workflow depends on wrong: its EnterStandby flips the state to Standby at once,
with no min-size check and no load-balancer deregistration; its ExitStandby never validates; its
SetInstanceHealth only sets a flag. The simulator owns the group instead, following the EC2 Auto Scaling
user guide ("Temporarily remove instances from your Auto Scaling group", "Health checks", "Elastic Load
Balancing"):

- EnterStandby: the instance is ``EnteringStandby`` while the group deregisters it from its attached target
  groups, and ``Standby`` once every deregistration delay is over. With ShouldDecrementDesiredCapacity the
  desired capacity drops (never below MinSize); without, the group launches a replacement.
- ExitStandby: the instance is ``InService`` at once, registered in the attached target groups again, and
  the desired capacity goes up (never above MaxSize). When a replacement was launched for it the group now
  has more instances than it needs and scales in; the simulator's termination policy is NewestInstance, so
  the replacement goes.
- SetInstanceHealth Unhealthy on an InService instance: the group terminates it (``Terminating``: deregistered,
  shut down when the delay ends, gone ``terminate_seconds`` later) and launches a replacement at once.
- A replacement is ``Pending`` (booting) for ``launch_seconds``, then ``InService`` and registered.

Every transition is recorded when the call is made, with its future already known (when a drain ends), so
any instant can be answered from the record, like the rest of the simulator.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html and
https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from nightshift.runtime.interceptor import AwsError
from nightshift.sim.spec import AutoScalingSpec, TerminationHookSpec

# Lifecycle states as DescribeAutoScalingInstances reports them.
PENDING = "Pending"
IN_SERVICE = "InService"
ENTERING_STANDBY = "EnteringStandby"
STANDBY = "Standby"
TERMINATING = "Terminating"
TERMINATING_WAIT = "Terminating:Wait"
TERMINATING_PROCEED = "Terminating:Proceed"
# Health as SetInstanceHealth takes it (DescribeAutoScalingGroups echoes it; DescribeAutoScalingInstances
# upper-cases it).
HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"
GROUP_NAME_TAG = "aws:autoscaling:groupName"
IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"


def iso_seconds(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Host(Protocol):
    """What the group asks of the fleet it manages (the FleetSimulator)."""

    def asg_deregister(self, instance_id: str, tg_arns: list[str], at: float) -> float:
        """Deregister from these target groups (cancelling a registration still ahead); when every drain ends."""

    def asg_register(self, instance_id: str, tg_arns: list[str], at: float) -> None: ...

    def asg_launch(self, like_instance_id: str, at: float, in_service_at: float, tg_arns: list[str]) -> str:
        """Launch an instance in the same subnet as ``like_instance_id``, registered at ``in_service_at``."""

    def asg_terminate(self, instance_id: str, requested_at: float, shuts_down_at: float,
                      terminated_at: float) -> None: ...

    def asg_retime_termination(self, instance_id: str, shuts_down_at: float, terminated_at: float) -> None: ...


@dataclass
class Member:
    instance_id: str
    # (from, lifecycle state) in time order; None: no longer in the group. Later entries may lie in the
    # future (a drain that will end, a replacement that will go InService); a new call drops those first.
    lifecycle: list[tuple[float, str | None]]
    health: str = HEALTHY
    # Standby entered without decrementing: the instance the group launched in its place.
    replacement: str | None = None

    def state(self, at: float) -> str | None:
        found: str | None = None  # before its first transition it is not a member
        for start, state in self.lifecycle:
            if start > at:
                break
            found = state
        return found

    def plan(self, at: float, *transitions: tuple[float, str | None]) -> None:
        """From ``at`` on, these transitions replace whatever was still ahead."""
        self.lifecycle = [entry for entry in self.lifecycle if entry[0] <= at]
        self.lifecycle.extend(transitions)


@dataclass
class LifecycleAction:
    """A termination lifecycle action in progress: the instance waits until ``expires_at`` (its heartbeat timeout,
    restarted by each heartbeat, never past ``global_deadline``) unless it is completed first."""

    instance_id: str
    token: str
    hook: str
    started_at: float
    expires_at: float
    global_deadline: float
    completed_at: float | None = None
    result: str | None = None
    heartbeats: list[float] = field(default_factory=list)

    def active(self, now: float) -> bool:
        return self.completed_at is None and self.started_at <= now < self.expires_at


@dataclass(frozen=True)
class Activity:
    activity_id: str
    description: str
    cause: str
    start: float
    end: float  # the effect completes (InProgress until then)
    details: str = "{}"

    def status(self, now: float) -> str:
        return IN_PROGRESS if now < self.end else SUCCESSFUL

    def progress(self, now: float) -> int:
        if now >= self.end:
            return 100
        return max(0, min(99, int(100 * (now - self.start) / (self.end - self.start))))


@dataclass
class AutoScalingGroup:
    name: str
    arn: str
    spec: AutoScalingSpec
    min_size: int
    max_size: int
    desired: int
    target_group_arns: list[str]
    availability_zones: list[str]
    subnet_ids: list[str]
    created_at: float
    host: Host
    members: dict[str, Member] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    replacements: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    # Fault injection windows, in absolute virtual time (id, start, end).
    injected_activity: tuple[str, float, float] | None = None
    injected_refresh: tuple[str, float, float] | None = None
    # Termination lifecycle actions by instance, and the EventBridge events the group emitted (in time order).
    lifecycle_actions: dict[str, LifecycleAction] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, arn: str, spec: AutoScalingSpec, instance_ids: list[str], tg_arns: list[str],
               azs: list[str], subnet_ids: list[str], built_at: float, host: Host) -> AutoScalingGroup:
        group = cls(name=name, arn=arn, spec=spec, min_size=spec.min_size, max_size=spec.max_for(len(instance_ids)),
                    desired=len(instance_ids), target_group_arns=list(tg_arns) if spec.attach_target_groups else [],
                    availability_zones=azs, subnet_ids=subnet_ids, created_at=built_at, host=host)
        for instance_id in instance_ids:
            # In service long before build(), like the targets.
            group.members[instance_id] = Member(instance_id, [(float("-inf"), IN_SERVICE)])
        if spec.activity_in_progress is not None:
            start, end = spec.activity_in_progress
            group.injected_activity = (str(uuid.uuid4()), built_at + start, built_at + end)
        if spec.instance_refresh_in_progress is not None:
            start, end = spec.instance_refresh_in_progress
            group.injected_refresh = (str(uuid.uuid4()), built_at + start, built_at + end)
        return group

    # -- reading ---------------------------------------------------------------------------------------

    def lifecycle(self, instance_id: str, at: float) -> str | None:
        member = self.members.get(instance_id)
        return member.state(at) if member is not None else None

    def current_members(self, at: float) -> list[tuple[Member, str]]:
        return [(m, state) for m in self.members.values() if (state := m.state(at)) is not None]

    def visible_activities(self, now: float) -> list[Activity]:
        """Started activities, newest first (the injected one included)."""
        activities = list(self.activities)
        if self.injected_activity is not None:
            activity_id, start, end = self.injected_activity
            activities.append(Activity(activity_id, "Launching a new EC2 instance",
                                       f"At {iso_seconds(start)} an instance was started in response to a "
                                       "difference between desired and actual capacity.", start, end))
        started = [a for a in activities if a.start <= now]
        # Stable on ties: of two activities started at once, the one recorded later is listed first.
        return [a for _, a in sorted(enumerate(started), key=lambda p: (p[1].start, p[0]), reverse=True)]

    # -- the calls -------------------------------------------------------------------------------------

    def _member(self, instance_id: str, now: float) -> Member:
        member = self.members.get(instance_id)
        if member is None or member.state(now) is None:
            raise AwsError("ValidationError",
                           f"The instance {instance_id} is not part of Auto Scaling group {self.name}.")
        return member

    def _sizes(self) -> str:
        return f"AutoScalingGroup {self.name} has min-size={self.min_size}, max-size={self.max_size}, " \
               f"and desired-size={self.desired}."

    def _record(self, description: str, cause: str, start: float, end: float) -> Activity:
        activity = Activity(str(uuid.uuid4()), description, cause, start, end)
        self.activities.append(activity)
        return activity

    def enter_standby(self, instance_ids: list[str], decrement: bool, now: float) -> list[Activity]:
        members = [self._member(i, now) for i in instance_ids]
        for member in members:
            if member.state(now) != IN_SERVICE:
                raise AwsError("ValidationError", f"The instance {member.instance_id} is not in InService.")
        if decrement and self.desired - len(members) < self.min_size:
            raise AwsError("ValidationError",
                           f"{self._sizes()} Entering standby would violate the min-size constraint.")
        activities = []
        for member in members:
            drained = self.host.asg_deregister(member.instance_id, self.target_group_arns, now)
            member.plan(now, (now, ENTERING_STANDBY), (drained, STANDBY))
            before = self.desired
            if decrement:
                self.desired -= 1
                change = f"shrinking the capacity from {before} to {self.desired}"
            else:
                change = f"keeping the capacity at {before}"
            activities.append(self._record(
                f"Moving EC2 instance to Standby: {member.instance_id}",
                f"At {iso_seconds(now)} instance {member.instance_id} was moved to standby in response to a user "
                f"request, {change}.", now, drained))
            if not decrement:
                member.replacement = self._launch(member.instance_id, now)
        return activities

    def exit_standby(self, instance_ids: list[str], now: float) -> list[Activity]:
        members = [self._member(i, now) for i in instance_ids]
        for member in members:
            if member.state(now) != STANDBY:
                raise AwsError("ValidationError", f"The instance {member.instance_id} is not in Standby.")
        if self.desired + len(members) > self.max_size:
            raise AwsError("ValidationError",
                           f"{self._sizes()} Exiting standby would violate the max-size constraint.")
        activities = []
        for member in members:
            member.plan(now, (now, IN_SERVICE))
            self.host.asg_register(member.instance_id, self.target_group_arns, now)
            before = self.desired
            self.desired += 1
            activities.append(self._record(
                f"Moving EC2 instance out of Standby: {member.instance_id}",
                f"At {iso_seconds(now)} instance {member.instance_id} was moved out of standby in response to a "
                f"user request, increasing the capacity from {before} to {self.desired}.", now, now))
            replacement = self.members.get(member.replacement) if member.replacement else None
            member.replacement = None
            if replacement is not None and replacement.state(now) in (PENDING, IN_SERVICE):
                # One more instance than needed: scale in, newest instance first (the replacement).
                self.desired -= 1
                self._terminate(replacement, now, f"At {iso_seconds(now)} an instance was taken out of service "
                                                  "in response to a difference between desired and actual "
                                                  f"capacity, shrinking the capacity from {self.desired + 1} "
                                                  f"to {self.desired}.")
        return activities

    def set_instance_health(self, instance_id: str, health: str, now: float) -> None:
        member = self.members.get(instance_id)
        if member is None or member.state(now) is None:
            raise AwsError("ValidationError",
                           f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
        if health not in (HEALTHY, UNHEALTHY):
            raise AwsError("ValidationError", f"Invalid health status {health!r}: use Healthy or Unhealthy.")
        member.health = health
        if health == UNHEALTHY and member.state(now) == IN_SERVICE:
            cause = f"At {iso_seconds(now)} an instance was taken out of service in response to a user health-check."
            if self.spec.termination_hook is not None:
                self._hook_terminate(member, self.spec.termination_hook, now, cause)
            else:
                self._terminate(member, now, cause)
            self._launch(member.instance_id, now)

    # -- what the group does on its own --------------------------------------------------------------------

    def _launch(self, like_instance_id: str, now: float) -> str:
        ready = now + self.spec.launch_seconds
        new_id = self.host.asg_launch(like_instance_id, now, ready, self.target_group_arns)
        self.members[new_id] = Member(new_id, [(now, PENDING), (ready, IN_SERVICE)])
        self.replacements.append(new_id)
        self._record(f"Launching a new EC2 instance: {new_id}",
                     f"At {iso_seconds(now)} an instance was started in response to a difference between desired "
                     f"and actual capacity, increasing the capacity from {self.desired - 1} to {self.desired}.",
                     now, ready)
        return new_id

    def _terminate(self, member: Member, now: float, cause: str) -> None:
        # The group deregisters first and terminates once the deregistration delay is over.
        drained = self.host.asg_deregister(member.instance_id, self.target_group_arns, now)
        gone = drained + self.spec.terminate_seconds
        member.plan(now, (now, TERMINATING), (gone, None))
        self.host.asg_terminate(member.instance_id, now, drained, gone)
        self._record(f"Terminating EC2 instance: {member.instance_id}", cause, now, gone)

    # -- termination lifecycle hooks ------------------------------------------------------------------------
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html: on scale-in the hook
    # puts the instance in Terminating:Wait "until you either complete the lifecycle action, or the timeout period
    # ends"; "you can restart the timeout period by recording a heartbeat"; then Terminating:Proceed and the
    # instance is terminated. DefaultResult applies at the timeout (CONTINUE and ABANDON both terminate on
    # scale-in). GlobalTimeout: 48 h or 100 x HeartbeatTimeout, whichever is smaller
    # (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html). The event:
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/prepare-for-lifecycle-notifications.html

    def scale_in(self, instance_id: str, now: float) -> dict[str, Any] | None:
        """Terminate ``instance_id`` in a scale-in (desired capacity decremented). With a termination hook: the
        instance waits in Terminating:Wait and the "EC2 Instance-terminate Lifecycle Action" event is returned
        (also kept in ``events``); without one: terminated as ``_terminate`` does, and None."""
        member = self._member(instance_id, now)
        if member.state(now) != IN_SERVICE:
            raise AwsError("ValidationError", f"The instance {instance_id} is not in InService.")
        self.desired = max(self.min_size, self.desired - 1)
        hook = self.spec.termination_hook
        cause = (f"At {iso_seconds(now)} an instance was taken out of service in response to a difference between "
                 f"desired and actual capacity, shrinking the capacity from {self.desired + 1} to {self.desired}.")
        if hook is None:
            self._terminate(member, now, cause)
            return None
        return self._hook_terminate(member, hook, now, cause)

    def _hook_terminate(self, member: Member, hook: TerminationHookSpec, now: float, cause: str) -> dict[str, Any]:
        """Terminate ``member`` through the group's termination hook: Terminating:Wait, the lifecycle action, the
        event (kept in ``events`` and returned). Hooks apply to every termination, a health-check replacement
        included ("whether initiated automatically or manually",
        https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html)."""
        instance_id = member.instance_id
        # The group's own (attached) target groups deregister it first, and the hook waits only once their
        # connections drained: "the terminating instance is first deregistered from the load balancer ... waits for
        # existing connections to drain before completing the deregistration process", then "the lifecycle hook
        # puts the instance into a wait state (Terminating:Wait)"
        # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html). Until then it is
        # Terminating, with no lifecycle action; the event (returned now) carries the time the wait starts.
        waits_at = self.host.asg_deregister(member.instance_id, self.target_group_arns, now)
        global_deadline = waits_at + min(172800, 100 * hook.heartbeat_timeout)
        action = LifecycleAction(instance_id, str(uuid.uuid4()), hook.name, waits_at,
                                 waits_at + hook.heartbeat_timeout, global_deadline)
        self.lifecycle_actions[instance_id] = action
        gone = action.expires_at + self.spec.terminate_seconds
        member.plan(now, *(((now, TERMINATING),) if waits_at > now else ()), (waits_at, TERMINATING_WAIT),
                    (action.expires_at, TERMINATING_PROCEED), (gone, None))
        self.host.asg_terminate(instance_id, now, action.expires_at, gone)
        self._record(f"Terminating EC2 instance: {instance_id}", cause, now, gone)
        event = {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "EC2 Instance-terminate Lifecycle Action",
            "source": "aws.autoscaling", "account": self.arn.split(":")[4], "time": iso_seconds(waits_at),
            "region": self.arn.split(":")[3], "resources": [self.arn],
            "detail": {"LifecycleActionToken": action.token, "AutoScalingGroupName": self.name,
                       "LifecycleHookName": hook.name, "EC2InstanceId": instance_id,
                       "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING"}}
        self.events.append(event)
        return event

    def _action(self, hook: str, instance_id: str | None, token: str | None, now: float) -> LifecycleAction:
        found = next((a for a in self.lifecycle_actions.values()
                      if a.hook == hook and (instance_id is None or a.instance_id == instance_id)
                      and (token is None or a.token == token)), None)
        if found is None or not found.active(now):
            raise AwsError("ValidationError", f"No active Lifecycle Action found with instance ID {instance_id}")
        return found

    def _retime(self, action: LifecycleAction, proceed_at: float, now: float) -> None:
        member = self.members[action.instance_id]
        gone = proceed_at + self.spec.terminate_seconds
        member.plan(now, *(((now, TERMINATING_WAIT),) if proceed_at > now else ()), (proceed_at, TERMINATING_PROCEED),
                    (gone, None))
        self.host.asg_retime_termination(action.instance_id, proceed_at, gone)

    def record_heartbeat(self, hook: str, instance_id: str | None, token: str | None, now: float) -> None:
        """RecordLifecycleActionHeartbeat: the timeout restarts (never past the global timeout)."""
        action = self._action(hook, instance_id, token, now)
        action.heartbeats.append(now)
        action.expires_at = min(now + self._hook_heartbeat(), action.global_deadline)
        self._retime(action, action.expires_at, now)

    def complete(self, hook: str, instance_id: str | None, token: str | None, result: str, now: float) -> None:
        """CompleteLifecycleAction: Terminating:Proceed now, then terminated (CONTINUE or ABANDON: on a
        scale-in both terminate the instance)."""
        if result not in ("CONTINUE", "ABANDON"):
            raise AwsError("ValidationError", f"Invalid LifecycleActionResult {result!r}: CONTINUE or ABANDON")
        action = self._action(hook, instance_id, token, now)
        action.completed_at = now
        action.result = result
        self._retime(action, now, now)

    def _hook_heartbeat(self) -> int:
        assert self.spec.termination_hook is not None
        return self.spec.termination_hook.heartbeat_timeout
