"""The catalogue of step functions: ASL placeholder, deployed name and handler, in one place.

The local runtime routes Lambda Tasks by it, the SAM template names its functions after it, and the
infra checks compare the three.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class StepFunction:
    placeholder: str | None  # ${...} in the ASL; None for a trigger invoked by EventBridge
    name: str  # deployed function name suffix: nightshift-<name>
    module: str  # steps.<module>.handler

    def handler(self) -> Handler:
        module = importlib.import_module(f"steps.{self.module}")
        handler: Handler = module.handler  # a module's attribute is Any to mypy
        return handler


STEP_FUNCTIONS: tuple[StepFunction, ...] = (
    StepFunction("ValidateRequestFunctionArn", "validate-request", "validate_request"),
    StepFunction("AcquireGroupLockFunctionArn", "acquire-group-lock", "acquire_group_lock"),
    StepFunction("SelectWorstInstanceFunctionArn", "select-worst-instance", "select_worst_instance"),
    StepFunction("CheckCapacityFunctionArn", "check-capacity", "check_capacity"),
    StepFunction("DeregisterInstanceFunctionArn", "deregister-instance", "deregister_instance"),
    StepFunction("CheckDrainFunctionArn", "check-drain", "check_drain"),
    StepFunction("RebootInstanceFunctionArn", "reboot-instance", "reboot_instance"),
    StepFunction("CheckBootFunctionArn", "check-boot", "check_boot"),
    StepFunction("RegisterInstanceFunctionArn", "register-instance", "register_instance"),
    StepFunction("CheckHealthFunctionArn", "check-health", "check_health"),
    StepFunction("ChooseEscalationFunctionArn", "choose-escalation", "choose_escalation"),
    StepFunction("StopStartInstanceFunctionArn", "stop-start-instance", "stop_start_instance"),
    StepFunction("ReplaceInstanceFunctionArn", "replace-instance", "replace_instance"),
    StepFunction("LeaveOutInstanceFunctionArn", "leave-out-instance", "leave_out_instance"),
    StepFunction("RestoreServiceFunctionArn", "restore-service", "restore_service"),
    StepFunction("NotifyFunctionArn", "notify", "notify"),
    StepFunction("ResumeRemediationFunctionArn", "resume-remediation", "resume_remediation"),
    StepFunction("ReconcileFunctionArn", "reconcile", "reconcile"),
    StepFunction("ListGroupsFunctionArn", "list-groups", "list_groups"),
    StepFunction("SummariseSweepFunctionArn", "summarise-sweep", "summarise_sweep"),
    StepFunction(None, "alarm-trigger", "alarm_trigger"),
)
BY_NAME = {f"nightshift-{f.name}": f for f in STEP_FUNCTIONS}
