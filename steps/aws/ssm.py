"""Run Command: ask the instance itself (boot time, established connections).

A command is sent in one check and read in the next: Run Command is asynchronous and a step never
waits for it. Each command carries a ``Comment`` naming what it measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from steps.aws.clients import client
from steps.aws.errors import aws_call, error_code
from steps.core.exceptions import AgentNotOnline

BOOT_TIME = "nightshift:boot-time"
CONNECTIONS = "nightshift:connections"
# /proc/stat's btime is the boot time in epoch seconds: it changes only when the kernel really restarts.
BOOT_TIME_SCRIPT = ["awk '/^btime/ {print $2}' /proc/stat"]
FINISHED_WITHOUT_OUTPUT = frozenset({"Cancelled", "TimedOut", "Failed", "DeliveryTimedOut", "ExecutionTimedOut",
                                     "Undeliverable", "Terminated", "InvalidPlatform", "AccessDenied"})


# Peers that are this host itself: a local reverse proxy or a sidecar, never the load balancer. iproute2's
# ss matches an IPv4 prefix against IPv4-mapped IPv6 peers too ([::ffff:127.0.0.1] on a dual-stack socket).
LOOPBACK_PEERS = ("127.0.0.0/8", "[::1]")


# The TCP states that still carry a request: ESTABLISHED, and CLOSE-WAIT, where the peer has half-closed
# (sent its FIN after its request, possible through an NLB passing the client's connection through) while
# this host still owes the response. ss(8): "state STATE-FILTER": a sequence of ``state NAME`` keywords.
IN_FLIGHT_STATES = ("established", "close-wait")


def connections_script(ports: list[int]) -> list[str]:
    """Count TCP connections still carrying a request (ESTABLISHED or CLOSE-WAIT) whose local port is one the
    target is registered on and whose peer is not loopback: what the load balancer (or, through an NLB
    preserving client IPs, its clients) still holds open. ``-H`` drops the header line so only sockets count.

    A failing ``ss`` (missing, an iproute2 too old for ``-H``, out of memory on a leaking host) must not read as
    0: in ``ss | wc -l`` the exit status is wc's, which prints 0. So ss's output is captured first and a
    failure exits 1: the invocation fails, and a failed invocation proves nothing (``Invocation.integer``).
    An empty output is 0 (``printf '%s\\n' ""`` would count one line)."""
    if not ports:
        raise ValueError("connections_script needs at least one registered port")
    if any(not 1 <= p <= 65535 for p in ports):
        raise ValueError(f"not a TCP port: {ports}")
    local = " or ".join(f"sport = :{p}" for p in sorted(set(ports)))
    loopback = " or ".join(f"dst {prefix}" for prefix in LOOPBACK_PEERS)
    states = " ".join(f"state {name}" for name in IN_FLIGHT_STATES)
    ss = f"ss -Htn {states} '( {local} ) and not ( {loopback} )'"
    return [f"out=$({ss}) || exit 1; "
            "if [ -z \"$out\" ]; then echo 0; else printf '%s\\n' \"$out\" | wc -l; fi"]


# SendCommand's InvalidInstanceId covers "SSM Agent isn't running", "SSM Agent isn't registered with the SSM
# endpoint" and a node not in a valid state (shutting-down, terminated): while an instance reboots or is
# stopped its agent is not running, so SSM may refuse the command instead of queueing it.
# https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html (Errors), worded as in
# https://docs.aws.amazon.com/botocore/latest/reference/services/ssm/client/exceptions/InvalidInstanceId.html
AGENT_NOT_ONLINE_CODES = frozenset({"InvalidInstanceId"})


def send(instance_id: str, comment: str, commands: list[str]) -> str:
    """SendCommand; raises ``AgentNotOnline`` when SSM says the agent cannot take it (see above)."""
    from botocore.exceptions import ClientError

    # The call runs inside aws_call so a network error (read timeout, endpoint unreachable) becomes
    # AwsUnavailable, which the state machine retries; only the agent-offline code is ours to read.
    with aws_call(f"SendCommand {comment} to {instance_id}"):
        try:
            response = client("ssm").send_command(
                InstanceIds=[instance_id],
                DocumentName="AWS-RunShellScript",
                Comment=comment,
                Parameters={"commands": commands},
                TimeoutSeconds=30,
            )
        except ClientError as exc:
            if error_code(exc) in AGENT_NOT_ONLINE_CODES:
                message = exc.response.get("Error", {}).get("Message", "")
                raise AgentNotOnline(
                    f"SendCommand {comment} to {instance_id}: {error_code(exc)}: {message}") from exc
            raise
    return str(response["Command"]["CommandId"])


def send_if_online(instance_id: str, comment: str, commands: list[str]) -> str | None:
    """SendCommand, or None when the agent is not online (yet): the caller asks again at its next poll."""
    try:
        return send(instance_id, comment, commands)
    except AgentNotOnline:
        return None


@dataclass(frozen=True)
class Invocation:
    status: str  # Pending | InProgress | Success | a failure status
    output: str

    @property
    def finished(self) -> bool:
        return self.status == "Success" or self.status in FINISHED_WITHOUT_OUTPUT

    def integer(self) -> int | None:
        """The command's output as one integer, or None when it did not succeed or printed garbage."""
        if self.status != "Success":
            return None
        try:
            return int(self.output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None


def invocation(command_id: str, instance_id: str) -> Invocation:
    from botocore.exceptions import ClientError

    with aws_call(f"GetCommandInvocation {command_id}"):
        try:
            response = client("ssm").get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            # Right after SendCommand the invocation may not exist yet: that is "pending", not a failure.
            if error_code(exc) == "InvocationDoesNotExist":
                return Invocation("Pending", "")
            raise
    return Invocation(str(response.get("Status", "Pending")), str(response.get("StandardOutputContent", "")))
