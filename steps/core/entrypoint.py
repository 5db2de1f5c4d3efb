"""What every step handler shares: parse the event, bind the log context, record audit entries.

A handler body receives a ``StepContext`` and returns a small flat dict; it never sleeps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from steps.core import clock, groups
from steps.core.config import GroupConfig
from steps.core.events import EscalationChoice, StepEvent, WorkflowState
from steps.core.exceptions import InvalidRequest
from steps.core.observability import EXECUTION_ID, logger, record_metrics, tracer
from steps.core.reasons import Reason
from steps.store import audit
from steps.store import errors as store_errors

T = TypeVar("T")


@dataclass
class StepContext:
    """``group`` is read from the groups declaration on first use, not before the body runs: the restore
    path and the notifications work from the state and the lifecycle record alone, so a declaration that
    became invalid (or lost this group) mid-remediation cannot stop them (ConfigurationError is raised only
    by the steps that need the configuration, and their Catch leads to the restore path)."""

    execution_id: str
    state: WorkflowState
    _group: GroupConfig | None = None
    step: str = "step"

    def require(self, value: T | None, field: str, why: str) -> T:
        """``value``, which the state machine always gives this step (``why``); missing, InvalidRequest naming
        the field: a contract check that holds under ``python -O`` too, and fails like any bad step input
        (never retried; the Task's Catch takes the restore path)."""
        if not value:
            raise InvalidRequest(f"{self.step}: malformed step input: {field}: missing; {why}")
        return value

    def require_rung(self, rung: str) -> EscalationChoice:
        """The escalation state of the rung this step runs as (a contract check, like ``require``)."""
        escalation = self.require(self.state.escalation, "escalation", f"this step runs as the {rung} rung")
        if escalation.rung != rung:
            raise InvalidRequest(f"{self.step}: malformed step input: escalation.rung: {escalation.rung!r}; this "
                                 f"step runs as the {rung} rung")
        return escalation

    @property
    def group(self) -> GroupConfig:
        if self._group is None:
            self._group = groups.group(self.state.request.group)
        return self._group

    @property
    def now(self) -> float:
        return clock.now()

    @property
    def lock_key(self) -> str:
        """The slot of the group lease this execution holds (slot 0, the group's name, when none is recorded)."""
        lock = self.state.lock
        return lock.key if lock is not None and lock.key else self.state.request.group

    @property
    def instance_id(self) -> str | None:
        selection = self.state.selection
        return self.state.request.instance_id if selection is None else selection.instance_id

    def audit(self, event: Reason, reason: str, instance_id: str | None = None, **details: Any) -> None:
        request = self.state.request
        audit.record(audit.AuditEntry(
            group=request.group, event=event, reason=reason, at=clock.now(),
            instance_id=instance_id or self.instance_id, execution_id=self.execution_id,
            remediation_id=request.remediation_id, trigger=request.trigger, details=details,
        ))
        logger.info(reason, extra={"audit_event": event, "details": details})
        record_metrics(request.group, event, details)


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(input)"
        message = "unknown field; remove it" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{prefix}{field}: {message}")
    return "; ".join(parts)


def step(body: Callable[[StepContext], dict[str, Any]]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Turn ``body(ctx)`` into a Lambda handler for any Task after validation."""
    StepEvent.model_rebuild()  # every call parses one: its validator is built now, at import, not on the first call

    @functools.wraps(body)
    @tracer.capture_lambda_handler(capture_response=False)
    @logger.inject_lambda_context(correlation_id_path=EXECUTION_ID)
    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        try:
            parsed = parse(event=event, model=StepEvent)
        except ValidationError as exc:
            raise InvalidRequest(f"{body.__name__}: malformed step input: {validation_message(exc)}") from exc
        request = parsed.state.request
        logger.append_keys(group=request.group, remediation_id=request.remediation_id, step=body.__name__)
        tracer.put_annotation(key="group", value=request.group)
        ctx = StepContext(parsed.execution_id, parsed.state, step=body.__name__)
        if ctx.instance_id:
            logger.append_keys(instance_id=ctx.instance_id)
        try:
            # A throttled or unreachable table is transient: named as the ASL's Retry expects.
            with store_errors.translated():
                return body(ctx)
        except Exception:
            logger.exception(f"{body.__name__} failed")
            raise
        finally:
            logger.remove_keys(["group", "remediation_id", "step", "instance_id"])

    return handler
