"""The audit reason codes: one enumeration that the audit store, the metrics, the README's reason-code table
and the notifications all read (docs/design.md "One name for one idea").

Each member carries what it means (``description``) and whether it is a *skip*: a remediation (or a
candidate instance) passed over. Every skip emits ``RemediationsSkipped`` with the code as its ``Reason``
dimension (steps/core/observability.py), so a new skip code cannot be forgotten by the metrics. Adding a code is
one line here and one row in the README's table (tests/unit/test_reason_codes.py checks both agree).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """An audit record's ``event``. A ``str``: it compares equal to, and serialises as, its code."""

    description: str
    is_skip: bool

    def __new__(cls, code: str, description: str, skip: bool = False) -> Reason:
        member = str.__new__(cls, code)
        member._value_ = code
        member.description = description
        member.is_skip = skip
        return member

    # The group lock
    LOCK_ACQUIRED = "LOCK_ACQUIRED", "this execution holds the group's lock"
    LOCK_TAKEN_OVER = "LOCK_TAKEN_OVER", "the lock's previous owner no longer runs: this execution took it over"
    SKIPPED_LOCKED = "SKIPPED_LOCKED", "live executions hold every slot of the group's lock", True
    QUEUED = ("QUEUED", "every slot of the group is held: an alarm's remediation waits for one (alarm_queue_seconds)")
    LOCK_LOST = "LOCK_LOST", "another execution holds the group's lock now: this one stops"
    # Selection
    SKIPPED_CLAIMED = "SKIPPED_CLAIMED", "another remediation has claimed the instance", True
    SKIPPED_SHARED = "SKIPPED_SHARED", "the instance also serves in a target group another group declares", True
    NOTHING_TO_DO = "NOTHING_TO_DO", "no instance breaches the threshold (or the named one does not)", True
    NO_METRIC_DATA = "NO_METRIC_DATA", "no instance of the group has a series of the metric"
    SELECTED = "SELECTED", "the instance chosen for remediation"
    SKIPPED_ASG_STATE = "SKIPPED_ASG_STATE", "the instance is not InService in its Auto Scaling group", True
    STATUS_CHECK_FAILED = "STATUS_CHECK_FAILED", "criterion status_check: EC2 instance or system status impaired"
    UNHEALTHY_TARGET = "UNHEALTHY_TARGET", "criterion unhealthy_target: the target fails its health checks"
    SILENT_INSTANCE = "SILENT_INSTANCE", "criterion silent: no datapoint of the metric while its peers report"
    WATCHING = "WATCHING", "criterion unhealthy_target: a target fails, not long enough yet; the execution looks again"
    # Capacity and blockers
    SKIPPED_CAPACITY = "SKIPPED_CAPACITY", "taking the instance out would break the group's floor", True
    SKIPPED_IN_FLIGHT = ("SKIPPED_IN_FLIGHT", "the group (or the instance's zone) has max_in_flight instances out of "
                         "service for remediation already", True)
    SKIPPED_ACCOUNT_LIMIT = ("SKIPPED_ACCOUNT_LIMIT", "the account's ceiling (account.max_in_flight) or rate "
                             "(account.max_per_hour) is reached", True)
    SKIPPED_FAIL_OPEN = "SKIPPED_FAIL_OPEN", "a target group or zone is below its routing minimum: it fails open", True
    CAPACITY_OK = "CAPACITY_OK", "the floor allows taking the instance out"
    DRY_RUN = "DRY_RUN", "dry run: what would have been done, nothing changed"
    SKIPPED_PAUSED = "SKIPPED_PAUSED", "the group is paused", True
    STORM_BREAKER = "STORM_BREAKER", "too many remediations or failures in the window: the group is paused", True
    SKIPPED_EXCLUDED = "SKIPPED_EXCLUDED", "the instance carries the exclude tag", True
    SKIPPED_ALARM = "SKIPPED_ALARM", "a blocking alarm is in ALARM", True
    SKIPPED_WINDOW = "SKIPPED_WINDOW", "outside the maintenance windows", True
    SKIPPED_COOLDOWN = "SKIPPED_COOLDOWN", "the instance (or the group) was remediated too recently", True
    SKIPPED_ASG_ACTIVITY = "SKIPPED_ASG_ACTIVITY", "the instance's Auto Scaling group is busy", True
    REBOOT_LIMIT_REACHED = "REBOOT_LIMIT_REACHED", "the instance reached its reboots per day: escalate"
    # The remediation
    DEREGISTERED = "DEREGISTERED", "the instance was taken out of its target groups"
    STANDBY_ENTERED = "STANDBY_ENTERED", "the instance entered Auto Scaling Standby"
    DRAINED = "DRAINED", "the drain ended"
    DRAIN_SIGNAL_UNAVAILABLE = "DRAIN_SIGNAL_UNAVAILABLE", "the drain's connection count cannot be read"
    POLL_THROTTLED = ("POLL_THROTTLED", "AWS throttled a poll's read: no reading that turn; the loop polls again "
                      "until its deadline (once per execution)")
    REBOOT_REQUESTED = "REBOOT_REQUESTED", "RebootInstances is about to be sent (write-ahead)"
    REBOOT_NOT_QUEUED = "REBOOT_NOT_QUEUED", "an unconfirmed reboot request was never queued: sending it"
    REBOOTED = "REBOOTED", "the reboot happened and the status checks passed"
    BOOT_TIMED_OUT = "BOOT_TIMED_OUT", "no reboot confirmed in time"
    REGISTERED = "REGISTERED", "the instance was registered again"
    HEALTHY = "HEALTHY", "the instance is healthy in every target group"
    HEALTH_TIMED_OUT = "HEALTH_TIMED_OUT", "the instance did not turn healthy in time"
    STANDBY_EXITED = "STANDBY_EXITED", "the instance left Auto Scaling Standby"
    STANDBY_EXIT_PENDING = "STANDBY_EXIT_PENDING", "registered again, still EnteringStandby: ExitStandby later"
    RESTORED = "RESTORED", "the instance was put back in service"
    FAILED = "FAILED", "the remediation failed"
    # The escalation ladder
    ESCALATING = "ESCALATING", "a reboot did not heal: the next rung"
    ESCALATION_RUNG_SKIPPED = "ESCALATION_RUNG_SKIPPED", "a rung cannot apply to this instance"
    ESCALATION_RUNG_RETRIED = "ESCALATION_RUNG_RETRIED", "a rung whose calls AWS all refused is offered again"
    ESCALATION_EXHAUSTED = "ESCALATION_EXHAUSTED", "no rung left"
    STOP_REQUESTED = "STOP_REQUESTED", "stop/start rung: StopInstances sent"
    START_REQUESTED = "START_REQUESTED", "stop/start rung: StartInstances sent"
    STOP_STARTED = "STOP_STARTED", "stop/start rung: the instance stopped and started again"
    MARKED_UNHEALTHY = "MARKED_UNHEALTHY", "replace rung: the instance was marked Unhealthy in its ASG"
    REPLACED = "REPLACED", "replace rung: the ASG replaced the instance"
    RUNG_TIMED_OUT = "RUNG_TIMED_OUT", "a rung did not finish in time"
    LEFT_OUT_OF_SERVICE = "LEFT_OUT_OF_SERVICE", "the instance is left out of service for a person"
    # Triggers, replays, operators
    ALARM_STARTED = "ALARM_STARTED", "an alarm started a remediation"
    ALARM_DUPLICATE = "ALARM_DUPLICATE", "an alarm's event was already handled"
    SWEEP_RESULT = "SWEEP_RESULT", "the sweep's verdict for a group"
    REPLAY_RESUMED = "REPLAY_RESUMED", "a replay resumed a remediation"
    REPLAY_VERIFY = "REPLAY_VERIFY", "a replay verifies a reboot already requested"
    REPLAY_NOT_NEEDED = "REPLAY_NOT_NEEDED", "the remediation a replay names already ended"
    PAUSED = "PAUSED", "an operator paused the group"
    RESUMED = "RESUMED", "an operator resumed the group"
    # The sweep's reconciler
    RECONCILED = "RECONCILED", "the reconciler put back an instance a dead execution left out"
    LOCK_RELEASED_STALE = "LOCK_RELEASED_STALE", "the reconciler released a lock whose owner no longer runs"
    CLAIM_RELEASED_STALE = "CLAIM_RELEASED_STALE", "the reconciler released a claim whose owner no longer runs"
    RECONCILE_INCOMPLETE = "RECONCILE_INCOMPLETE", "the reconciler stopped early; the next sweep continues"
    RECONCILE_FAILED = "RECONCILE_FAILED", "the reconciler failed"
    # The termination drain (statemachine/drain.asl.json)
    TERMINATION_DRAIN_STARTED = "TERMINATION_DRAIN_STARTED", "a scale-in or Spot warning started a termination drain"
    TERMINATION_DUPLICATE = "TERMINATION_DUPLICATE", "a termination event was already handled: nothing new started"
    TERMINATION_NO_GROUP = "TERMINATION_NO_GROUP", "the terminating instance is in no declared group: let go at once"
    TERMINATION_NOT_TERMINATING = ("TERMINATION_NOT_TERMINATING",
                                   "Auto Scaling does not say the instance is terminating: nothing drained")
    TERMINATION_CAPACITY = "TERMINATION_CAPACITY", "the group's capacity without the terminating instance (reported)"
    TERMINATION_DEREGISTERED = "TERMINATION_DEREGISTERED", "the terminating instance left its target groups"
    TERMINATION_HEARTBEAT = "TERMINATION_HEARTBEAT", "a lifecycle action heartbeat kept the hook waiting"
    TERMINATION_DRAINED = "TERMINATION_DRAINED", "the termination drain ended"
    LIFECYCLE_COMPLETED = "LIFECYCLE_COMPLETED", "CompleteLifecycleAction CONTINUE sent: the instance may go"
    TERMINATION_DRAIN_FAILED = "TERMINATION_DRAIN_FAILED", "the termination drain failed: the instance goes anyway"
    REMEDIATION_STOPPED_TERMINATING = "REMEDIATION_STOPPED_TERMINATING", "its instance is terminating: stopped"
    SPOT_PARKED = "SPOT_PARKED", "a Spot instance EC2 stops or hibernates is parked until EC2 restarts it"
    SPOT_UNPARKED = "SPOT_UNPARKED", "the reconciler registered back a parked Spot instance EC2 restarted"
    SPOT_PARK_DROPPED = "SPOT_PARK_DROPPED", "a parked Spot instance no longer exists: its park record is dropped"
    SPOT_PARK_OVERDUE = "SPOT_PARK_OVERDUE", "a Spot instance has been parked (stopped) for 7 days: warned once"


SKIPS = frozenset(reason for reason in Reason if reason.is_skip)


def reason_of(code: str) -> Reason:
    """The member named ``code``; a clear error for a code the enumeration does not have."""
    try:
        return Reason[code]  # names and codes are the same
    except KeyError:
        raise ValueError(f"unknown audit reason code {code!r}: add it to steps/core/reasons.py Reason (and the "
                         "README's reason-code table)") from None
