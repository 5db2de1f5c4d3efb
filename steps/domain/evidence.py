"""When the request itself is the evidence (issue 16, item 3): an alarm that names the instance, or an operator's
``force``. Pure: given the request and, for an alarm, what DescribeAlarms says now, choose the named instance
without the group's metric evaluation, or say why nothing starts.

An alarm is evidence only as CloudWatch shows it at selection time, never as the input says it was: the
trigger's event may be minutes old (Step Functions queues, a replay), and the alarm may be back in OK. An alarm
back in OK (or INSUFFICIENT_DATA) starts nothing. One in ALARM that still names this instance (its InstanceId
dimension) chooses it. An alarm that no longer exists, or names another instance or none, is no evidence either
way: the instance is judged on the group's own criteria, as a manual start naming it would be.

A failed *system* status check is a host problem a reboot does not fix; AWS's answer is to stop and start the
instance (it moves to a new host):
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-system-instance-status-check.html
so an alarm on ``AWS/EC2 StatusCheckFailed_System`` starts at the stop/start rung.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

SYSTEM_CHECK = ("AWS/EC2", "StatusCheckFailed_System")


class AlarmState(Protocol):
    """What DescribeAlarms shows of one alarm now (steps/aws/alarms.py AlarmNow)."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def dimensions(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Verdict:
    chosen: bool
    criterion: str  # "alarm" or "forced"
    reason: str
    first_rung: str | None = None
    details: dict[str, Any] | None = None


def forced(instance_id: str, requested_by: str) -> Verdict:
    # StartInput refuses force without requested_by; a Request built otherwise still says so
    who = requested_by or "an operator (requested_by not given)"
    return Verdict(True, "forced", f"{instance_id} chosen by force: {who} skipped the metric evaluation; every guard "
                                   "still applies", details={"forced_by": requested_by or None, "forced": True})


def from_alarm(instance_id: str, alarm: AlarmState | None) -> Verdict | None:
    """Choose ``instance_id`` on the alarm's own evaluation, as DescribeAlarms shows it now; nothing when the alarm
    left ALARM; None when the alarm says nothing about this instance (judge it on the group's criteria)."""
    if alarm is None:
        return None
    details: dict[str, Any] = {"alarm": alarm.name, "alarm_state": alarm.state, "alarm_reason": alarm.reason,
                               "alarm_metric": f"{alarm.namespace}/{alarm.metric}" if alarm.metric else None}
    if alarm.state != "ALARM":
        return Verdict(False, "alarm", f"alarm {alarm.name} is {alarm.state} now (it was ALARM when it started this "
                                       "remediation): nothing to do", details=details)
    if alarm.dimensions.get("InstanceId") != instance_id:
        return None
    rung = "stop_start" if (alarm.namespace, alarm.metric) == SYSTEM_CHECK else None
    reason = f"alarm {alarm.name} is in ALARM for {instance_id}: {alarm.reason}"
    if rung:
        reason += " (a failed system status check: stop and start on a new host, a reboot would not fix it)"
    return Verdict(True, "alarm", reason, rung, details)
