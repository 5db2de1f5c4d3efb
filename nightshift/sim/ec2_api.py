"""EC2 for the simulated instances: reboots that are only requests, stops and starts that take time, and
status checks that prove nothing.

moto's RebootInstances changes nothing, and its StopInstances/StartInstances flip the state at once. On AWS
a reboot is queued: the OS goes down a little later (a hung OS only at the hard reboot, minutes later) and
boots. A stop shuts the OS down and is ``stopping`` for a while before ``stopped``; a start is ``pending``
while it boots on a new host. Status checks can keep reading ``ok`` across a quick reboot, which is exactly
why the workflow needs a boot signal; the simulator reports them ``ok`` whenever the instance is running,
except for an instance whose spec has an impairment fault (``impaired`` with ImpairedSince, until cured). A start
after a stop renews DescribeInstances' LaunchTime (moto answers DescribeInstances; the simulator sets the time).

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Stop_Start.html
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import moto_backend
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.power import PENDING, RUNNING, SHUTTING_DOWN, STATE_CODES, STOPPED, STOPPING, TERMINATED
from nightshift.sim.world import FleetWorld

SERVICE = "ec2"
_GONE = (SHUTTING_DOWN, TERMINATED)


def _ok() -> dict[str, Any]:
    return {"Details": [{"Name": "reachability", "Status": "passed"}], "Status": "ok"}


def _status(status: str) -> dict[str, Any]:
    if status == "ok":
        return _ok()
    if status == "initializing":
        return {"Details": [{"Name": "reachability", "Status": "initializing"}], "Status": status}
    return {"Status": status}


def _impaired(since: float | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"Name": "reachability", "Status": "failed"}
    if since is not None:
        detail["ImpairedSince"] = datetime.fromtimestamp(since, tz=UTC)
    return {"Details": [detail], "Status": "impaired"}


def _state(name: str) -> dict[str, Any]:
    return {"Code": STATE_CODES[name], "Name": name}


def install(sim: FleetWorld, interceptor: Interceptor) -> None:
    interceptor.answer(SERVICE, "RebootInstances", partial(reboot_instances, sim))
    interceptor.answer(SERVICE, "StopInstances", partial(stop_instances, sim))
    interceptor.answer(SERVICE, "StartInstances", partial(start_instances, sim))
    interceptor.answer(SERVICE, "DescribeInstanceStatus", partial(describe_instance_status, sim))


def _resolve(sim: FleetWorld, params: dict[str, Any],
             operation: str) -> tuple[list[str], dict[str, tuple[FleetWorld, SimulatedInstance]]] | None:
    """The requested ids and the simulated ones among them, validated as EC2 validates; None: none simulated.
    The caller holds the lock."""
    ids = list(dict.fromkeys(str(i) for i in params.get("InstanceIds") or []))
    owners = {i: owner for i in ids if (owner := sim.owner_of(i)) is not None}
    sim.tally(operation, [fleet for fleet, _ in owners.values()])
    if not owners:
        return None  # nothing simulated: moto validates and answers
    missing = [i for i in ids if i not in owners
               and not moto_backend.instance_exists(sim.account_id, sim.spec.region, i)]
    if missing:
        if len(missing) == 1:
            raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
        raise AwsError("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")
    return ids, owners


def _dry_run(params: dict[str, Any]) -> None:
    if params.get("DryRun"):
        raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)


def reboot_instances(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    with sim.lock:
        resolved = _resolve(sim, params, "ec2.RebootInstances")
        if resolved is None:
            return None
        _, owners = resolved
        now = sim.now()
        for instance_id, (_, instance) in owners.items():
            if instance.ec2_state(now) in (STOPPED, *_GONE):
                raise AwsError("IncorrectInstanceState",
                               f"The instance '{instance_id}' is not in a state from which it can be rebooted.")
        _dry_run(params)
        for _, instance in owners.values():
            # While stopping or pending the request is accepted and absorbed (see PowerHistory).
            instance.power.request_reboot(now, hung=instance.spec.fault is not None and not instance.responsive(now)
                                          and instance.power.is_up(now))
    return {}


def _moto_transitions(sim: FleetWorld, ids: list[str], start: bool) -> list[dict[str, Any]]:
    """Stop or start the instances the simulator does not own, in moto, and report them as moto sees them."""
    if not ids:
        return []
    changed = moto_backend.stop_or_start(sim.account_id, sim.spec.region, ids, start)
    return [{"InstanceId": i, "CurrentState": {"Code": current[0], "Name": current[1]},
             "PreviousState": {"Code": previous[0], "Name": previous[1]}} for i, current, previous in changed]


def _stop_or_start(sim: FleetWorld, params: dict[str, Any], start: bool) -> dict[str, Any] | None:
    operation, verb = ("StartInstances", "started") if start else ("StopInstances", "stopped")
    refused = (STOPPING, *_GONE) if start else (PENDING, *_GONE)
    with sim.lock:
        resolved = _resolve(sim, params, f"ec2.{operation}")
        if resolved is None:
            return None
        ids, owners = resolved
        now = sim.now()
        for instance_id, (_, instance) in owners.items():
            if instance.ec2_state(now) in refused:
                raise AwsError("IncorrectInstanceState",
                               f"The instance '{instance_id}' is not in a state from which it can be {verb}.")
            if not start and instance.spec.root_device == "instance-store":
                # "You can't stop an instance store-backed instance" (StopInstances; UnsupportedOperation).
                # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StopInstances.html
                raise AwsError("UnsupportedOperation", f"The instance '{instance_id}' does not have an 'ebs' root "
                                                       "device type and cannot be stopped.")
            if not start and instance.spec.spot == "one-time":
                # "You can only stop a Spot Instance if it was launched from a persistent Spot Instance request"
                # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-instances-request.html#stopping-a-spot-instance
                raise AwsError("UnsupportedOperation", f"You can't stop the Spot Instance '{instance_id}' because "
                                                       "it is associated with a one-time Spot Instance request.")
            if not start and params.get("Hibernate"):
                # Hibernation must be enabled at launch; the fleet's instances never are.
                raise AwsError("UnsupportedHibernationConfiguration",
                               f"The instance '{instance_id}' does not have hibernation configured.")
        _dry_run(params)
        changes = []
        for instance_id in ids:
            if instance_id not in owners:
                continue
            instance = owners[instance_id][1]
            previous = instance.ec2_state(now)
            # Stopping a stopped (or starting a running) instance is a successful no-op, as on AWS.
            if start and instance.power.request_start(now):
                # A start after a stop launches it again: DescribeInstances' LaunchTime, "The time that the
                # instance was last launched", becomes now (a reboot leaves it). docs/aws-behaviour.md, "LaunchTime".
                # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html
                fleet = owners[instance_id][0]
                moto_backend.set_launch_times(fleet.account_id, fleet.spec.region, {instance_id: now})
            elif not start:
                instance.power.request_stop(now)
            changes.append({"InstanceId": instance_id, "CurrentState": _state(instance.ec2_state(now)),
                            "PreviousState": _state(previous)})
        changes += _moto_transitions(sim, [i for i in ids if i not in owners], start=start)
    return {"StartingInstances" if start else "StoppingInstances": changes}


def stop_instances(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    return _stop_or_start(sim, params, start=False)


def start_instances(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    return _stop_or_start(sim, params, start=True)


def describe_instance_status(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    ids = [str(i) for i in params.get("InstanceIds") or []]
    owners = [sim.owner_of(i) for i in ids]
    if not ids or params.get("Filters") or any(owner is None for owner in owners):
        # moto reports every running instance `ok`, which is also what the simulator would say.
        sim.tally("ec2.DescribeInstanceStatus")
        return None
    sim.tally("ec2.DescribeInstanceStatus", [owner[0] for owner in owners if owner is not None])
    include_all = bool(params.get("IncludeAllInstances"))
    with sim.lock:
        now = sim.now()
        statuses = []
        for owner in owners:
            assert owner is not None
            instance = owner[1]
            state = instance.ec2_state(now)
            if state != RUNNING and not include_all:
                continue  # without IncludeAllInstances AWS lists running instances only
            # Checks run only on a running instance, and start over after a start; a reboot leaves them ok.
            check = "ok" if state == RUNNING else "initializing" if state == PENDING else "not-applicable"
            instance_check, system_check = _status(check), _status(check)
            if state == RUNNING:
                # An impaired instance or host (a fault): the check's status is impaired, its reachability
                # detail failed, with ImpairedSince. A system impairment outlives a reboot (same host); a
                # stop/start moves the instance to a new host. docs/aws-behaviour.md, "Failing instances":
                # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceStatusDetails.html
                (inst, inst_since), (system, system_since) = instance.status_checks(now)
                instance_check = _impaired(inst_since) if inst == "impaired" else instance_check
                system_check = _impaired(system_since) if system == "impaired" else system_check
            statuses.append({
                "AvailabilityZone": instance.availability_zone,
                "InstanceId": instance.instance_id,
                "InstanceState": _state(state),
                "InstanceStatus": instance_check,
                "SystemStatus": system_check,
                "Events": [],
            })
        return {"InstanceStatuses": statuses}
