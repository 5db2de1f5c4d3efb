"""Run Command for the simulated instances: the two questions the workflow asks an instance.

moto accepts SendCommand but GetCommandInvocation returns no output. The simulator answers the
workflow's own commands (``AWS-RunShellScript`` with Comment ``nightshift:boot-time`` or
``nightshift:connections``) on fleet instances; any other command passes through to moto.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from nightshift.runtime.interceptor import AwsError, Interceptor
from nightshift.sim import moto_backend, sockets
from nightshift.sim.instance import SimulatedInstance
from nightshift.sim.power import SHUTTING_DOWN, TERMINATED
from nightshift.sim.run_command import BOOT_TIME, COMMENTS, DEFAULT_DELIVERY_TIMEOUT, DOCUMENT, Command, Invocation
from nightshift.sim.world import FleetWorld

SERVICE = "ssm"
_NO_INVOCATION = "No invocation exists for this CommandId and InstanceId"


def install(sim: FleetWorld, interceptor: Interceptor) -> None:
    interceptor.answer(SERVICE, "SendCommand", partial(send_command, sim))
    interceptor.answer(SERVICE, "GetCommandInvocation", partial(get_command_invocation, sim))
    interceptor.answer(SERVICE, "DescribeInstanceInformation", partial(describe_instance_information, sim))


def _measure(sim: FleetWorld, instance: SimulatedInstance, comment: str,
             commands: list[str]) -> Callable[[float, float], int | None]:
    def measure(delivered_at: float, at: float) -> int | None:
        # A reboot while the command runs kills it: no output, the invocation fails.
        if instance.power.lost_between(delivered_at, at):
            return None
        if comment == BOOT_TIME:
            # /proc/stat btime: whole epoch seconds of the running kernel's start.
            return int(instance.power.boot_time(at))
        return _connections(sim, instance, commands, at)
    return measure


def _agent_online(instance: SimulatedInstance, at: float) -> bool:
    if instance.ec2_state(at) in (SHUTTING_DOWN, TERMINATED):
        return False
    # A hung or impaired OS runs no agent (docs/aws-behaviour.md, "Failing instances").
    return instance.spec.ssm_online and instance.responsive(at)


def _connections(sim: FleetWorld, instance: SimulatedInstance, commands: list[str], at: float) -> int | None:
    """Run the ss pipeline we were sent against the host's sockets: the script's own filter decides what
    it counts (wrong ports or loopback peers read a wrong number). A command the simulator cannot
    evaluate fails, as a script with a syntax error would."""
    table = instance.sockets(sim.checks, at)
    if table is None:
        return None
    try:
        return sockets.count(commands, table, ss_fails=instance.spec.ss_fails)
    except sockets.FilterError:
        return None


def _delivery(instance: SimulatedInstance, sent_at: float, timeout: float) -> Callable[[], float | None]:
    def delivery() -> float | None:
        if not instance.spec.ssm_online:
            return None
        # SendCommand is refused while the agent is offline (above), so a command is sent while the OS is up
        # and delivered at once; kept general: were it sent just as the OS goes down, the agent would pick it
        # up when back, if within the delivery timeout (a later call, a start, decides when: asked lazily).
        delivered = instance.power.next_up(sent_at)
        return delivered if delivered < sent_at + timeout else None
    return delivery


def send_command(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    ids = [str(i) for i in params.get("InstanceIds") or []]
    comment = params.get("Comment")
    owners = [sim.owner_of(i) for i in ids]
    if (params.get("DocumentName") != DOCUMENT or comment not in COMMENTS or not ids or params.get("Targets")
            or any(owner is None for owner in owners)):
        sim.tally("ssm.SendCommand")
        return None
    sim.tally("ssm.SendCommand", [owner[0] for owner in owners if owner is not None])
    assert isinstance(comment, str)
    timeout = float(params.get("TimeoutSeconds") or DEFAULT_DELIVERY_TIMEOUT)
    if not 30 <= timeout <= 2592000:
        raise AwsError("ValidationException", "1 validation error detected: Value at 'timeoutSeconds' failed to "
                                              "satisfy constraint: Member must have value between 30 and 2592000")
    with sim.lock:
        now = sim.now()
        # SSM refuses (InvalidInstanceId) a node that is shutting down or gone, and one whose SSM Agent isn't
        # running or isn't registered: the agent is offline while the OS is down (rebooting, booting,
        # stopping, stopped), and never online on an instance without it (spec.ssm_online False).
        # https://docs.aws.amazon.com/botocore/latest/reference/services/ssm/client/exceptions/InvalidInstanceId.html
        # https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html (Errors)
        refused = [i for i, owner in zip(ids, owners, strict=True)
                   if owner is not None and not _agent_online(owner[1], now)]
        if refused:
            raise AwsError("InvalidInstanceId", f"Instances {refused} not in a valid state for account "
                                                f"{sim.account_id}")
        command_id = str(uuid.uuid4())
        commands = [str(c) for c in params.get("Parameters", {}).get("commands", [])]
        invocations = {}
        for instance_id, owner in zip(ids, owners, strict=True):
            assert owner is not None
            fleet, instance = owner
            invocations[instance_id] = Invocation(
                command_id=command_id, instance_id=instance_id, comment=comment, sent_at=now,
                delivery=_delivery(instance, now, timeout), delivery_timeout=timeout,
                run_seconds=fleet.spec.command_run_seconds, measure=_measure(fleet, instance, comment, commands),
            )
        command = Command(command_id, comment, commands, now, timeout, invocations)
        sim.commands[command_id] = command
        return command.send_response()


def get_command_invocation(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    command_id = str(params.get("CommandId"))
    with sim.lock:
        # Any fleet on this interceptor may have sent it: peers are searched, so the first one asked answers.
        command = sim.command(command_id)
        owner = sim.owner_of(str(params.get("InstanceId")))
        sim.tally("ssm.GetCommandInvocation", [owner[0]] if command is not None and owner is not None else [])
        if command is None:
            if moto_backend.ssm_knows_command(sim.account_id, sim.spec.region, command_id):
                return None
            raise AwsError("InvocationDoesNotExist", _NO_INVOCATION)
        invocation = command.invocations.get(str(params.get("InstanceId")))
        plugin = params.get("PluginName")
        if invocation is None or (plugin is not None and plugin != "aws:runShellScript"):
            raise AwsError("InvocationDoesNotExist", _NO_INVOCATION)
        return invocation.response(sim.now())


def describe_instance_information(sim: FleetWorld, params: dict[str, Any]) -> dict[str, Any] | None:
    """The managed nodes among the fleet's instances (moto does not implement this call).

    An instance whose agent is not registered (``ssm_online`` False) is not a managed node and is absent, as
    on AWS; a registered agent reports ``Online`` while the OS is up and ``ConnectionLost`` while it is down
    (the PingStatus values of InstanceInformation:
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_InstanceInformation.html).
    """
    wanted: list[str] | None = None
    for item in list(params.get("Filters") or []) + list(params.get("InstanceInformationFilterList") or []):
        key = item.get("Key") or item.get("key")
        if key in ("InstanceIds", "instanceIds"):
            wanted = [str(v) for v in item.get("Values") or item.get("valueSet") or []]
    with sim.lock:
        now = sim.now()
        owned = [(i, f) for f in sim.peers for i in f.instances if i.ec2_state(now) != TERMINATED]
        if wanted is not None:
            owned = [(i, f) for i, f in owned if i.instance_id in wanted]
            if not owned:
                return None
        sim.tally("ssm.DescribeInstanceInformation", [f for _, f in owned[:1]])
        listed = [{
            "InstanceId": instance.instance_id,
            "PingStatus": "Online" if instance.responsive(now) else "ConnectionLost",
            "PlatformType": "Linux",
            "ResourceType": "EC2Instance",
            "AgentVersion": "3.3.0.0",
        } for instance, _ in owned if instance.spec.ssm_online]
        return {"InstanceInformationList": listed}
