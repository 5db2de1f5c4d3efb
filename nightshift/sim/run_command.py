"""Run Command invocations on simulated instances: delivery, status over time, and output.

The SSM agent picks a command up when it can reach the service: at once when the instance is up,
otherwise when it is back, as long as that happens within the delivery timeout (``TimeoutSeconds``;
AWS's default is 3600 s); past it the invocation ends ``TimedOut`` with StatusDetails
``DeliveryTimedOut``. Output is measured on the instance when the command runs, so a boot-time command
sent during a reboot reports the new boot.

AWS's documentation of what is modelled here (docs/aws-behaviour.md lists each behaviour):
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BOOT_TIME = "nightshift:boot-time"
CONNECTIONS = "nightshift:connections"
COMMENTS = (BOOT_TIME, CONNECTIONS)
DOCUMENT = "AWS-RunShellScript"
DEFAULT_DELIVERY_TIMEOUT = 3600.0


def iso_millis(at: float) -> str:
    """GetCommandInvocation's timestamps are strings, not timestamps, in this format."""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(at * 1000) % 1000:03d}Z"


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    comment: str
    sent_at: float
    # When the agent picks it up; None: not (yet) known to happen before the delivery timeout. Asked
    # lazily because a later event decides it: a stopped instance delivers only once someone starts it.
    delivery: Callable[[], float | None]
    delivery_timeout: float
    run_seconds: float
    # (delivered at, run instant) -> the measurement; None when the OS went down before the command finished.
    measure: Callable[[float, float], int | None]
    _output: int | None = None
    _measured: bool = False

    @property
    def delivered_at(self) -> float | None:
        return self.delivery()

    @property
    def finishes_at(self) -> float | None:
        delivered = self.delivered_at
        return None if delivered is None else delivered + self.run_seconds

    def _result(self) -> int | None:
        if not self._measured:
            delivered = self.delivered_at
            assert delivered is not None
            self._output = self.measure(delivered, delivered + self.run_seconds)
            self._measured = True
        return self._output

    def status(self, now: float) -> tuple[str, str, str, int]:
        """(Status, StatusDetails, StandardOutputContent, ResponseCode) as GetCommandInvocation reports."""
        delivered = self.delivered_at
        if delivered is None or now < delivered:
            if now >= self.sent_at + self.delivery_timeout:
                return "TimedOut", "DeliveryTimedOut", "", -1
            return "Pending", "Pending", "", -1
        finishes = delivered + self.run_seconds
        if now < finishes:
            return "InProgress", "InProgress", "", -1
        output = self._result()
        if output is None:
            return "Failed", "Failed", "", 1
        return "Success", "Success", f"{output}\n", 0

    def response(self, now: float) -> dict[str, Any]:
        status, details, output, code = self.status(now)
        response: dict[str, Any] = {
            "CommandId": self.command_id,
            "InstanceId": self.instance_id,
            "Comment": self.comment,
            "DocumentName": DOCUMENT,
            "DocumentVersion": "$DEFAULT",
            "PluginName": "aws:runShellScript",
            "ResponseCode": code,
            "ExecutionStartDateTime": "",
            "ExecutionElapsedTime": "",
            "ExecutionEndDateTime": "",
            "Status": status,
            "StatusDetails": details,
            "StandardOutputContent": output,
            "StandardOutputUrl": "",
            "StandardErrorContent": "",
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }
        delivered = self.delivered_at
        if delivered is not None and now >= delivered:
            response["ExecutionStartDateTime"] = iso_millis(delivered)
            finishes = delivered + self.run_seconds
            if now >= finishes:
                response["ExecutionEndDateTime"] = iso_millis(finishes)
                response["ExecutionElapsedTime"] = f"PT{self.run_seconds:.3f}S"
        return response


@dataclass
class Command:
    command_id: str
    comment: str
    commands: list[str]
    sent_at: float
    delivery_timeout: float
    invocations: dict[str, Invocation]

    def send_response(self) -> dict[str, Any]:
        sent = datetime.fromtimestamp(self.sent_at, tz=UTC)
        return {"Command": {
            "CommandId": self.command_id,
            "DocumentName": DOCUMENT,
            "DocumentVersion": "$DEFAULT",
            "Comment": self.comment,
            "ExpiresAfter": datetime.fromtimestamp(self.sent_at + self.delivery_timeout, tz=UTC),
            "Parameters": {"commands": list(self.commands)},
            "InstanceIds": list(self.invocations),
            "Targets": [],
            "RequestedDateTime": sent,
            "Status": "Pending",
            "StatusDetails": "Pending",
            "MaxConcurrency": "50",
            "MaxErrors": "0",
            "TargetCount": len(self.invocations),
            "CompletedCount": 0,
            "ErrorCount": 0,
            "DeliveryTimedOutCount": 0,
            "TimeoutSeconds": int(self.delivery_timeout),
        }}
