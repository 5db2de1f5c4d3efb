"""Step: announce a remediation's start and its end (success, restore, failure, skip, storm breaker).

The state machine calls it with a Catch: a notification that cannot be sent is logged, never a reason to
fail or block a remediation. Targets come from NIGHTSHIFT_TOPIC_ARN (SNS) and NIGHTSHIFT_EVENT_BUS
(EventBridge); either may be unset.
"""

from __future__ import annotations

from typing import Any

from steps.aws import notifications
from steps.core.entrypoint import StepContext, step
from steps.core.reasons import Reason

HEADLINES = {
    "started": "{instance} is leaving service in {group} for a reboot",
    "remediated": "{instance} in {group} was rebooted and is healthy again",
    "failed": "remediation of {instance} in {group} FAILED ({error}); it was put back in service",
    "restore_failed": "remediation of {instance} in {group} FAILED and the instance could NOT be put back: act now",
    "replaced": "{instance} in {group} did not heal by reboot; its Auto Scaling group replaced it",
    "left_out": "{instance} in {group} did not heal (tried: {tried}); it is LEFT OUT of service for you to look at",
    "skipped": "remediation of {group} skipped: {code}",
    Reason.STORM_BREAKER: "STORM BREAKER: {group} is paused after too many remediations; `nightshift resume {group}`",
}

# A selection that asked for another first action than a reboot (a failed system status check: stop/start).
FIRST_RUNG_HEADLINES = {
    "started": "{instance} is leaving service in {group} to be stopped and started on a new host (chosen by "
               "{criterion}: a reboot would not heal it)",
    "remediated": "{instance} in {group} was stopped and started on a new host and is healthy again",
}

# Endings worth a message; nothing to do, dry runs and ordinary skips stay in the audit trail.
NOTABLE = frozenset({"started", "remediated", "replaced", "left_out", "failed", "restore_failed", Reason.STORM_BREAKER})


def message(phase: str, ctx: StepContext, outcome: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    request = ctx.state.request
    status = str(outcome.get("status", "started")) if phase == "ended" else "started"
    code = str(outcome.get("code", ""))
    key = Reason.STORM_BREAKER if code == Reason.STORM_BREAKER else status
    template = HEADLINES.get(key, "remediation of {group} ended: {status}")
    selection = ctx.state.selection
    criterion = selection.criterion if selection is not None else None
    first_rung = selection.first_rung if selection is not None else None
    if first_rung is not None and key in FIRST_RUNG_HEADLINES:
        template = FIRST_RUNG_HEADLINES[key]
    elif criterion not in (None, "metric") and key == "started":
        template += " (chosen by {criterion})"
    text = template.format(criterion=criterion, instance=ctx.instance_id or "no instance", group=request.group,
                           error=outcome.get("error"),
                           code=code, status=status, tried=", ".join(outcome.get("tried") or []) or "nothing")
    detail = {"group": request.group, "instance_id": ctx.instance_id, "status": status, "code": code or None,
              "execution_id": ctx.execution_id, "remediation_id": request.remediation_id,
              "trigger": request.trigger, "error": outcome.get("error"), "cause": outcome.get("cause"),
              "reason": request.reason, "escalation": outcome.get("tried"), "criterion": criterion,
              "first_rung": first_rung}
    return text, detail


@step
def notify(ctx: StepContext) -> dict[str, Any]:
    outcome = ctx.state.outcome or {}
    phase = "ended" if outcome else "started"  # called after deregistration, and again after release
    text, detail = message(phase, ctx, outcome)
    if detail["status"] == "restore_failed":
        audit_restore_failed(ctx, outcome)
    if detail["status"] not in NOTABLE and detail["code"] not in NOTABLE:
        return {"sent": [], "text": text}
    sent = notifications.announce(text, detail)
    return {"sent": sent, "text": text}


def audit_restore_failed(ctx: StepContext, outcome: dict[str, Any]) -> None:
    """The restore step failed, so it could not record the failure: record it here, with both causes (what
    failed the remediation, what failed the restore), before any message is attempted."""
    original = ctx.state.error
    error = original.Error if original else "RestoreFailed"
    cause = f"{original.Cause if original else 'no error information'}; then the restore failed: " \
            f"{outcome.get('cause') or 'no cause'}"
    ctx.audit(Reason.FAILED, f"remediation failed with {error} and the instance could NOT be put back: {cause[:500]}",
              error=error, cause=cause[:2000], restore_failed=True)


handler = notify
