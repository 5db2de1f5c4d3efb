"""Parser models for what the state machine hands each step (a bad input is a validation error, not a
KeyError). The state document grows as steps run: each step's result sits under its own key."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?\Z")  # \Z: "$" would accept a trailing newline
# C0 and C1 control characters and DEL (Unicode category Cc): never in a one-line free-text field.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
Trigger = Literal["alarm", "schedule", "manual", "replay"]
# What starts a termination drain (statemachine/drain.asl.json; never a remediation's input: StartInput uses Trigger).
TerminationTrigger = Literal["lifecycle_hook", "spot"]


class _Loose(BaseModel):
    # Step results may gain fields; a step reads only what it needs. defer_build: the handlers that never parse a
    # step's state (validate-request, list-groups, the alarm trigger) do not build these validators when they
    # import this module; every @step handler builds StepEvent's at import (steps/core/entrypoint.py).
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Request(_Loose):
    group: str
    start_delay_seconds: int = 0
    trigger: Trigger | TerminationTrigger = "manual"
    remediation_id: str
    instance_id: str | None = None
    dry_run: bool = False
    reason: str = ""
    requested_by: str = ""
    replay_of: str | None = None
    force: bool = False  # an operator chose instance_id without the metric evaluation (steps/domain/evidence.py)
    alarm_name: str | None = None  # the alarm that started it: evidence once re-read (steps/domain/evidence.py)


class TargetRegistration(_Loose):
    arn: str
    port: int | None = None


class SelectionResult(_Loose):
    # watch: an unhealthy_target sighting is not due yet; the execution Waits watch_seconds and selects again.
    action: Literal["remediate", "nothing_to_do", "no_metric_data", "watch"]
    instance_id: str | None = None
    value: float | None = None
    threshold: float | None = None
    reason: str = ""
    # Which select criterion chose the instance; "stop_start" when the first action must not be a reboot.
    criterion: str | None = None
    first_rung: str | None = None
    watch_seconds: int | None = None
    watch_until: float | None = None
    watch_since: float | None = None
    watch_looks: int | None = None


class WatchState(_Loose):
    """What the state machine carries between the looks of a watching execution (``$.watch``)."""

    until: float  # the deadline fixed at the first watch (steps/domain/criteria.py ``watch``)
    seconds: int  # the next Wait
    since: float | None = None  # when watching started
    looks: int = 0  # the watching looks so far (steps/domain/history.py ``watch_looks`` bounds them)


class DeregistrationResult(_Loose):
    instance_id: str
    target_groups: list[TargetRegistration]
    at: float
    delay_seconds: int
    standby: dict[str, Any] | None = None  # the Auto Scaling Standby plan, when it is in an ASG


class DrainProgress(_Loose):
    done: bool = False
    quiet: int = 0
    checks: int = 0
    command_id: str | None = None
    ended_by: str | None = None
    agent_offline: bool = False  # SSM refused a command once: audited once
    last_heartbeat_at: float | None = None  # termination drain: the last lifecycle action heartbeat


class RebootResult(_Loose):
    instance_id: str
    requested_at: float
    # False: not known to be accepted (a Retry found only the write-ahead record); None: an older result.
    sent: bool | None = None
    resend_of: float | None = None  # this request replaced one proven never queued (requested then)


class BootProgress(_Loose):
    done: bool = False
    phase: str | None = None
    confirmed_by: str | None = None
    command_id: str | None = None
    command_sent_at: float | None = None  # when command_id was sent (the boot time it reads is no older)
    boot_time: int | None = None
    checks: int = 0


class RegistrationResult(_Loose):
    at: float


class HealthProgress(_Loose):
    done: bool = False
    checks: int = 0


class EscalationChoice(_Loose):
    """The rung the ladder chose: which, since when, until when, and every rung tried so far."""

    rung: str
    deadline_seconds: int
    started_at: float
    tried: list[str] = Field(default_factory=list)
    reason: str = ""


class ErrorInfo(_Loose):
    Error: str = "Unknown"
    Cause: str = ""


class Termination(_Loose):
    """What the termination trigger read from the event (steps/triggers/termination_trigger.py)."""

    kind: Literal["lifecycle", "spot"]
    instance_id: str
    event_time: float
    auto_scaling_group: str | None = None
    hook: str | None = None
    token: str | None = None
    instance_action: str | None = None  # Spot: terminate | stop | hibernate


class TerminationPlan(_Loose):
    """The termination drain's plan (steps/drain/prepare_termination_drain.py)."""

    action: Literal["drain", "complete"]
    deregistration: DeregistrationResult | None = None
    heartbeat_seconds: int | None = None  # the hook's HeartbeatTimeout: heartbeats come sooner than this
    started_at: float = 0.0


class LockState(_Loose):
    """The Acquire step's answer (validation seeds it, so a failure before the Acquire releases nothing)."""

    acquired: bool = False
    key: str | None = None  # the slot held: the group's name (slot 0) or <group>#slot<i>
    queued_since: float | None = None  # an alarm's remediation waiting for a free slot: since when


class WorkflowState(_Loose):
    request: Request
    lock: LockState | None = None
    selection: SelectionResult | None = None
    watch: WatchState | None = None
    deregistration: DeregistrationResult | None = None
    drain: DrainProgress | None = None
    reboot: RebootResult | None = None
    boot: BootProgress | None = None
    registration: RegistrationResult | None = None
    health: HealthProgress | None = None
    capacity: dict[str, Any] | None = None
    escalation: EscalationChoice | None = None
    rung: dict[str, Any] | None = None  # a rung's poll progress
    error: ErrorInfo | None = None
    outcome: dict[str, Any] | None = None
    termination: Termination | None = None
    plan: TerminationPlan | None = None


class StepEvent(_Loose):
    """Every Task after validation sends ``{"execution_id": $$.Execution.Id, "state": $}``."""

    execution_id: str
    state: WorkflowState


class StartInput(BaseModel):
    """What an operator pastes into the console (or the CLI sends). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1)
    instance_id: str | None = None
    dry_run: bool = False
    reason: str = Field(default="", max_length=500)
    # Up to an execution ARN (256 characters, API_DescribeExecution.html): the cascade passes its parent's
    # ($$.Execution.Id) to the group's next remediation (tests/unit/test_cascade_input.py).
    requested_by: str = Field(default="", max_length=256)
    trigger: Trigger = "manual"
    remediation_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,80}$")
    replay_of: str | None = None
    alarm: dict[str, Any] | None = None
    # Choose instance_id without evaluating the group's metric (a person who has looked at it): every guard
    # still applies, and the audit records who forced it (requested_by).
    force: bool = False
    # Set by Step Functions' console convention when a parent execution (the sweep) starts this one.
    AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: str | None = None
    # Wait this long before taking a slot: the cascade paces the group's next remediations (cascade_interval_seconds).
    start_delay_seconds: int = Field(default=0, ge=0, le=300)

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str | None) -> str | None:
        if value is not None and not INSTANCE_ID.match(value):
            raise ValueError("must look like i-0123456789abcdef0 (i- and 8 or 17 hex digits)")
        return value

    @model_validator(mode="after")
    def _force_names_an_instance(self) -> StartInput:
        if self.force and self.instance_id is None:
            raise ValueError("force: skips the metric evaluation of one named instance; add instance_id "
                             "(e.g. \"instance_id\": \"i-0123456789abcdef0\") or remove force")
        if self.force and self.trigger not in ("manual", "replay"):
            raise ValueError(f"force: only a person starting by hand may force (trigger is {self.trigger!r}); "
                             "remove force")
        if self.force and not self.requested_by.strip():
            raise ValueError("force: say who forces it (the audit records it): add requested_by (CLI --requested-by "
                             "you@example.com), or remove force")
        return self

    @field_validator("reason", "requested_by")
    @classmethod
    def _free_text(cls, value: str) -> str:
        # Free text lands in the audit trail, SNS notices and `nightshift audit`'s table: a newline could forge a
        # line there and an escape sequence drive an operator's terminal.
        if CONTROL_CHARACTERS.search(value):
            raise ValueError("must not contain control characters (newlines, tabs, escapes): write one plain line")
        return value


class ValidateEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_id: str
    execution_name: str
    input: dict[str, Any]
