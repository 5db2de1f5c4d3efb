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
    module: str  # steps.<package>.<module>.handler, e.g. remediate.check_drain

    def source(self) -> str:
        """The module's file, relative to the repository root: steps/<package>/<module>.py."""
        return f"steps/{self.module.replace('.', '/')}.py"

    def handler(self) -> Handler:
        module = importlib.import_module(f"steps.{self.module}")
        handler: Handler = module.handler  # a module's attribute is Any to mypy
        return handler


STEP_FUNCTIONS: tuple[StepFunction, ...] = (
    StepFunction("ValidateRequestFunctionArn", "validate-request", "remediate.validate_request"),
    StepFunction("AcquireGroupLockFunctionArn", "acquire-group-lock", "remediate.acquire_group_lock"),
    StepFunction("SelectWorstInstanceFunctionArn", "select-worst-instance", "remediate.select_worst_instance"),
    StepFunction("CheckCapacityFunctionArn", "check-capacity", "remediate.check_capacity"),
    StepFunction("DeregisterInstanceFunctionArn", "deregister-instance", "remediate.deregister_instance"),
    StepFunction("CheckDrainFunctionArn", "check-drain", "remediate.check_drain"),
    StepFunction("RebootInstanceFunctionArn", "reboot-instance", "remediate.reboot_instance"),
    StepFunction("CheckBootFunctionArn", "check-boot", "remediate.check_boot"),
    StepFunction("RegisterInstanceFunctionArn", "register-instance", "remediate.register_instance"),
    StepFunction("CheckHealthFunctionArn", "check-health", "remediate.check_health"),
    StepFunction("ChooseEscalationFunctionArn", "choose-escalation", "remediate.choose_escalation"),
    StepFunction("StopStartInstanceFunctionArn", "stop-start-instance", "remediate.stop_start_instance"),
    StepFunction("ReplaceInstanceFunctionArn", "replace-instance", "remediate.replace_instance"),
    StepFunction("LeaveOutInstanceFunctionArn", "leave-out-instance", "remediate.leave_out_instance"),
    StepFunction("RestoreServiceFunctionArn", "restore-service", "remediate.restore_service"),
    StepFunction("NotifyFunctionArn", "notify", "remediate.notify"),
    StepFunction("ResumeRemediationFunctionArn", "resume-remediation", "remediate.resume_remediation"),
    StepFunction("ReconcileFunctionArn", "reconcile", "sweep.reconcile"),
    StepFunction("ListGroupsFunctionArn", "list-groups", "sweep.list_groups"),
    StepFunction("SummariseSweepFunctionArn", "summarise-sweep", "sweep.summarise_sweep"),
    StepFunction("PrepareTerminationDrainFunctionArn", "prepare-termination-drain", "drain.prepare_termination_drain"),
    StepFunction("CheckTerminationDrainFunctionArn", "check-termination-drain", "drain.check_termination_drain"),
    StepFunction("CompleteLifecycleActionFunctionArn", "complete-lifecycle-action", "drain.complete_lifecycle_action"),
    StepFunction(None, "alarm-trigger", "triggers.alarm_trigger"),
    StepFunction(None, "termination-trigger", "triggers.termination_trigger"),
)
BY_NAME = {f"nightshift-{f.name}": f for f in STEP_FUNCTIONS}
