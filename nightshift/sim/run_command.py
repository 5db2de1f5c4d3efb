"""Run Command invocations on simulated instances: delivery, status over time, and output.

The SSM agent picks a command up when it can reach the service: at once when the instance is up,
otherwise when it is back, as long as that happens within the delivery timeout (``TimeoutSeconds``;
AWS's default is 3600 s); past it the invocation ends ``TimedOut`` with StatusDetails
``DeliveryTimedOut``. Output is measured on the instance when the command runs, so a boot-time command
sent during a reboot reports the new boot.
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
    # None: the agent never got it before the delivery timeout.
    delivered_at: float | None
    delivery_timeout: float
    run_seconds: float
    # Measures the instance at the run instant; None when the OS went down before the command finished.
    measure: Callable[[float], int | None]
    _output: int | None = None
    _measured: bool = False

    @property
    def finishes_at(self) -> float | None:
        return None if self.delivered_at is None else self.delivered_at + self.run_seconds

    def _result(self) -> int | None:
        if not self._measured:
            finishes = self.finishes_at
            assert finishes is not None
            self._output = self.measure(finishes)
            self._measured = True
        return self._output

    def status(self, now: float) -> tuple[str, str, str, int]:
        """(Status, StatusDetails, StandardOutputContent, ResponseCode) as GetCommandInvocation reports."""
        if self.delivered_at is None or now < self.delivered_at:
            if now >= self.sent_at + self.delivery_timeout:
                return "TimedOut", "DeliveryTimedOut", "", -1
            return "Pending", "Pending", "", -1
        finishes = self.finishes_at
        assert finishes is not None
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
        if self.delivered_at is not None and now >= self.delivered_at:
            response["ExecutionStartDateTime"] = iso_millis(self.delivered_at)
            finishes = self.finishes_at
            if finishes is not None and now >= finishes:
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
