"""Sweep step: heal what crashed remediations left behind, before anything new starts.

For every group: an instance the audit trail shows Nightshift took out of service (DEREGISTERED) with no
later RESTORED/HEALTHY, whose remediation has no live execution, is registered back in every target group
its lifecycle record lists (started first if an escalation left it stopped, out of Auto Scaling Standby);
an instance put in Standby (STANDBY_ENTERED) whose ExitStandby never happened is taken out of Standby; a
lock whose owner execution is no longer running is released (conditionally on that owner). So a crash in
the worst place heals itself on the next sweep."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from steps import clock, groups, put_back
from steps.aws.stepfunctions import execution_status
from steps.domain.lifecycle import OUT_OF_SERVICE
from steps.exceptions import AwsUnavailable
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


def _open(group: str, now: float, opened: str, closed: set[str]) -> list[str]:
    """Remediation ids with an ``opened`` event and no later ``closed`` one."""
    open_ids: dict[str, bool] = {}
    for record in audit.for_group(group, since=now - LOOKBACK_SECONDS):
        if record.event == opened and record.remediation_id:
            open_ids[record.remediation_id] = True
        elif record.event in closed and record.remediation_id in open_ids:
            open_ids[record.remediation_id] = False
    return [rid for rid, still_open in open_ids.items() if still_open]


def _record(group: str, event: str, now: float, execution: str, remediation_id: str, instance_id: str | None,
            reason: str, **details: Any) -> None:
    audit.record(audit.AuditEntry(group=group, event=event, at=now, instance_id=instance_id, execution_id=execution,
                                  remediation_id=remediation_id, trigger="schedule", reason=reason, details=details))


def _restore(group: str, remediation_id: str, now: float, sweep_execution: str) -> str | None:
    record = lifecycle.load(remediation_id)
    if record.state not in [*OUT_OF_SERVICE, "verifying"] or _alive(record.executions):
        return None
    result = put_back.put_back(record.facts or {})
    if result.instance_id is None:
        return None
    lifecycle.advance(record, "restore", {"error": "reconciled", **result.numbers()}, now, sweep_execution)
    _record(group, "RECONCILED", now, sweep_execution, remediation_id, result.instance_id,
            f"{result.instance_id} was left out of service by {record.executions[-1]} (no longer running): "
            f"registered back in {len(result.target_groups)} target group(s)",
            lifecycle_state=record.state, executions=record.executions, **result.numbers())
    if result.standby == put_back.EXITED:
        _record(group, "STANDBY_EXITED", now, sweep_execution, remediation_id, result.instance_id,
                f"{result.instance_id} left Auto Scaling Standby")
    return result.instance_id


def _finish_standby(group: str, remediation_id: str, now: float, sweep_execution: str) -> str | None:
    """A restore that found the instance still EnteringStandby left ExitStandby for later: now."""
    record = lifecycle.load(remediation_id)
    deregistration = (record.facts or {}).get("deregister") or {}
    if _alive(record.executions) or record.state in ("left_out", "replaced"):
        return None  # running, or deliberately out / gone
    instance_id = deregistration.get("instance_id")
    if instance_id and put_back.leave_standby(instance_id, deregistration.get("standby")) == put_back.EXITED:
        _record(group, "STANDBY_EXITED", now, sweep_execution, remediation_id, instance_id,
                f"{instance_id} left Auto Scaling Standby that {record.executions[-1]} could not end")
        return str(instance_id)
    return None


def reconcile_group(group: str, sweep_execution: str) -> dict[str, Any]:
    now = clock.now()
    restored: list[str] = []
    standby_exited: list[str] = []
    for remediation_id in _open(group, now, "DEREGISTERED", BACK_IN_SERVICE):
        try:
            if (instance_id := _restore(group, remediation_id, now, sweep_execution)) is not None:
                restored.append(instance_id)
        except AwsUnavailable as exc:  # e.g. still starting after a stop/start: the next sweep finishes
            logger.warning(f"reconcile {remediation_id}: {exc}")
    for remediation_id in _open(group, now, "STANDBY_ENTERED", {"STANDBY_EXITED"}):
        if (instance_id := _finish_standby(group, remediation_id, now, sweep_execution)) is not None:
            standby_exited.append(instance_id)
    released = None
    holder = lock.holder(group)
    if holder and execution_status(holder.owner) not in LIVE_EXECUTION_STATES and lock.release(group, holder.owner):
        released = holder.owner
        audit.record(audit.AuditEntry(
            group=group, event="LOCK_RELEASED_STALE", at=now, execution_id=sweep_execution, trigger="schedule",
            reason=f"released the lock held by {holder.owner}, which is no longer running",
            details={"owner": holder.owner, "expires_at": float(holder.expires_at)}))
    return {"restored": restored, "standby_exited": standby_exited, "stale_lock_released": released}


@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = ReconcileEvent.model_validate(event)
    logger.set_correlation_id(parsed.execution_id)
    results = {g.name: reconcile_group(g.name, parsed.execution_id) for g in groups.load().groups}
    logger.info("reconciled", extra={"results": results})
    return {"groups": results}
