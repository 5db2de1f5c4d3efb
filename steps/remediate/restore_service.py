"""Step: the restore path every failure after the lock goes through.

Puts the instance back in every target group the lifecycle record says it was removed from (the
record, not the state document, because the failure may have struck before the state held it): started
again if an escalation rung stopped it, out of Auto Scaling Standby if we put it there. Records the
failure with its cause and leaves the lock to the next state. Idempotent.
"""

from __future__ import annotations

from typing import Any

from steps.core import groups
from steps.core.entrypoint import StepContext, step
from steps.core.exceptions import ConfigurationError, NightshiftError
from steps.core.reasons import Reason
from steps.domain.lifecycle import may
from steps.remediate import put_back
from steps.remediate.standby import audit_standby
from steps.store import lifecycle


def configuration_now(group: str) -> tuple[str, str]:
    """After a ConfigurationError: what the groups declaration says now, as (code, sentence) for the audit.
    Nothing here needs the declaration to be valid; it only reports on it."""
    try:
        document = groups.load()
    except ConfigurationError as exc:
        return "invalid", f"the groups declaration is invalid ({str(exc)[:300]})"
    except NightshiftError as exc:  # e.g. GetParameter throttled: the put-back must not wait for a report
        return "unreadable", f"the groups declaration could not be read ({type(exc).__name__}: {str(exc)[:200]})"
    if group not in document.by_name:
        return "removed", f"group {group!r} is no longer declared in the groups declaration"
    return "valid_again", "the groups declaration could not be used when the step ran (it is valid again now)"


@step
def restore_service(ctx: StepContext) -> dict[str, Any]:
    error = ctx.state.error
    error_name, cause = (error.Error, error.Cause) if error else ("Unknown", "no error information")
    # Everything below works from the state and the lifecycle record: never ctx.group (the declaration may be
    # what failed). A ConfigurationError says so in both audit records.
    configuration: dict[str, str] = {}
    why = error_name
    if error_name == ConfigurationError.__name__:
        code, sentence = configuration_now(ctx.state.request.group)
        configuration = {"configuration": code}
        why = f"{error_name}: {sentence}"
    record = lifecycle.load(ctx.state.request.remediation_id)
    restored = put_back.PutBack(None)
    if may(record.state, "restore") or record.state == "restored":  # restored: put back again, not moved
        restored = put_back.put_back(record.facts or {})
    if restored.terminating:
        # Not a failure: a scale-in or Spot interruption took the instance; the termination drain owns it now.
        if record.state != "restored":
            lifecycle.advance(record, "restore", {"error": error_name, **restored.numbers()}, ctx.now,
                              ctx.execution_id)
        ctx.audit(Reason.REMEDIATION_STOPPED_TERMINATING, f"{restored.sentence()}; remediation stopped after {why}",
                  instance_id=restored.instance_id, error=error_name, terminating=restored.terminating)
        return {"status": "stopped", "error": error_name, "cause": cause[:2000], "restored": False,
                "terminating": restored.terminating}
    if restored.instance_id:
        if record.state != "restored":
            lifecycle.advance(record, "restore", {"error": error_name, **restored.numbers()}, ctx.now,
                              ctx.execution_id)
        ctx.audit(Reason.RESTORED, f"{restored.sentence()} (from the lifecycle record) after {why}",
                  instance_id=restored.instance_id, error=error_name, **configuration, **restored.numbers())
        audit_standby(ctx, restored)
    elif record.state in ("requested", "selected"):
        lifecycle.advance(record, "fail", {"error": error_name}, ctx.now, ctx.execution_id)
    ctx.audit(Reason.FAILED, f"remediation failed with {why}: {cause[:500]}",
              instance_id=record.instance_id, error=error_name, cause=cause[:2000],
              lifecycle_state=record.state, restored_to=restored.target_groups, **configuration)
    return {"status": "failed", "error": error_name, "cause": cause[:2000],
            "restored": bool(restored.target_groups) or restored.being_replaced}


handler = restore_service
