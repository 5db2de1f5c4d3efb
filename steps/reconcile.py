"""Sweep step: heal what crashed remediations left behind, before anything new starts.

For every group: an instance the audit trail shows Nightshift took out of service (DEREGISTERED) with no
later RESTORED/HEALTHY, whose remediation has no live execution, is registered back in every target group
its lifecycle record lists; a lock whose owner execution is no longer running is released (conditionally
on that owner). So a crash in the worst place heals itself on the next sweep.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from steps import clock, groups
from steps.aws import elbv2
from steps.aws.stepfunctions import execution_status
from steps.domain.lifecycle import OUT_OF_SERVICE
from steps.observability import logger, tracer
from steps.store import audit, lifecycle, lock
from steps.store.lock import LIVE_EXECUTION_STATES

LOOKBACK_SECONDS = 14 * 86400  # Step Functions keeps redrivable history this long
BACK_IN_SERVICE = {"RESTORED", "HEALTHY"}


class ReconcileEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution_id: str


def _alive(executions: list[str]) -> bool:
    return any(execution_status(arn) in LIVE_EXECUTION_STATES for arn in executions)


def _left_out(group: str, now: float) -> list[str]:
    """Remediation ids whose instance was deregistered and never reported back in service."""
    open_ids: dict[str, bool] = {}
    for record in audit.for_group(group, since=now - LOOKBACK_SECONDS):
        if record.event == "DEREGISTERED" and record.remediation_id:
            open_ids[record.remediation_id] = True
        elif record.event in BACK_IN_SERVICE and record.remediation_id in open_ids:
            open_ids[record.remediation_id] = False
    return [rid for rid, still_out in open_ids.items() if still_out]


def reconcile_group(group: str, sweep_execution: str) -> dict[str, Any]:
    now = clock.now()
    restored: list[str] = []
    for remediation_id in _left_out(group, now):
        record = lifecycle.load(remediation_id)
        deregistration = (record.facts or {}).get("deregister")
        if record.state not in [*OUT_OF_SERVICE, "verifying"] or not deregistration or _alive(record.executions):
            continue
        instance_id = deregistration["instance_id"]
        arns = [r["arn"] for r in deregistration["target_groups"]]
        for registration in deregistration["target_groups"]:
            elbv2.register(registration["arn"], instance_id, registration.get("port"))
        lifecycle.advance(record, "restore", {"error": "reconciled", "target_groups": arns}, now, sweep_execution)
        audit.record(audit.AuditEntry(
            group=group, event="RECONCILED", at=now, instance_id=instance_id, execution_id=sweep_execution,
            remediation_id=remediation_id, trigger="schedule",
            reason=f"{instance_id} was left out of service by {record.executions[-1]} (no longer running): "
                   f"registered back in {len(arns)} target group(s)",
            details={"lifecycle_state": record.state, "target_groups": arns, "executions": record.executions}))
        restored.append(instance_id)
    released = None
    holder = lock.holder(group)
    if holder and execution_status(holder.owner) not in LIVE_EXECUTION_STATES and lock.release(group, holder.owner):
        released = holder.owner
        audit.record(audit.AuditEntry(
            group=group, event="LOCK_RELEASED_STALE", at=now, execution_id=sweep_execution, trigger="schedule",
            reason=f"released the lock held by {holder.owner}, which is no longer running",
            details={"owner": holder.owner, "expires_at": float(holder.expires_at)}))
    return {"restored": restored, "stale_lock_released": released}


@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = ReconcileEvent.model_validate(event)
    logger.set_correlation_id(parsed.execution_id)
    results = {g.name: reconcile_group(g.name, parsed.execution_id) for g in groups.load().groups}
    logger.info("reconciled", extra={"results": results})
    return {"groups": results}
