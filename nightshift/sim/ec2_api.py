"""EC2 for the simulated instances: reboots that are only requests, and status checks that prove nothing.

moto's RebootInstances changes nothing. On AWS it queues a reboot: the OS goes down a little later (a
hung OS only at the hard reboot, minutes later) and boots. Status checks can keep reading ``ok`` across a
quick reboot, which is exactly why the workflow needs a boot signal; the simulator reports them ``ok``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import moto_backend

if TYPE_CHECKING:
    from nightshift.sim.fleet import FleetSimulator

SERVICE = "ec2"


def _ok() -> dict[str, Any]:
    return {"Details": [{"Name": "reachability", "Status": "passed"}], "Status": "ok"}


def install(sim: FleetSimulator, interceptor: Interceptor) -> None:
    interceptor.answer(SERVICE, "RebootInstances", partial(reboot_instances, sim))
    interceptor.answer(SERVICE, "DescribeInstanceStatus", partial(describe_instance_status, sim))


def reboot_instances(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    ids = list(dict.fromkeys(str(i) for i in params.get("InstanceIds") or []))
    with sim.lock:
        owners = {i: owner for i in ids if (owner := sim.owner_of(i)) is not None}
        sim.tally("ec2.RebootInstances", [fleet for fleet, _ in owners.values()])
        if not owners:
            return None  # nothing simulated: moto validates and does its (nothing)
        missing = [i for i in ids if i not in owners
                   and not moto_backend.instance_exists(sim.account_id, sim.spec.region, i)]
        if missing:
            if len(missing) == 1:
                raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
            raise AwsError("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")
        if params.get("DryRun"):
            raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
        now = sim.now()
        for _, instance in owners.values():
            instance.power.request_reboot(now)
    return {}


def describe_instance_status(sim: FleetSimulator, params: dict[str, Any]) -> dict[str, Any] | None:
    ids = [str(i) for i in params.get("InstanceIds") or []]
    owners = [sim.owner_of(i) for i in ids]
    if not ids or params.get("Filters") or any(owner is None for owner in owners):
        # moto reports every running instance `ok`, which is also what the simulator would say.
        sim.tally("ec2.DescribeInstanceStatus")
        return None
    sim.tally("ec2.DescribeInstanceStatus", [owner[0] for owner in owners if owner is not None])
    with sim.lock:
        statuses = []
        for owner in owners:
            assert owner is not None
            instance = owner[1]
            statuses.append({
                "AvailabilityZone": instance.availability_zone,
                "InstanceId": instance.instance_id,
                "InstanceState": {"Code": 16, "Name": "running"},
                "InstanceStatus": _ok(),
                "SystemStatus": _ok(),
                "Events": [],
            })
        return {"InstanceStatuses": statuses}
