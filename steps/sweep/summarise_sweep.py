"""Sweep step: what happened to each group, in the few words an operator wants, and whether the
reconciler finished (``reconcile``: ok, incomplete or failed, with counts)."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict

from steps.aws import notifications
from steps.core import clock
from steps.core.observability import EXECUTION_ID, logger, record_metrics, tracer
from steps.core.reasons import Reason
from steps.store import audit, notices
from steps.store import errors as store_errors

# remediate's outcome.status -> the sweep's verdict
NOTICE = "reconcile-failed"  # steps/store/notices.py: once per group per UTC day
VERDICTS = {
    "remediated": "remediated",
    "replaced": "escalated",
    "left_out": "escalated",
    "nothing_to_do": "healthy",
    "no_metric_data": "no_data",  # none of its instances reported the metric: never "healthy"
    "already_done": "healthy",
    "dry_run": "dry_run",
    "skipped_locked": "skipped",
    "skipped": "skipped",
    "failed": "failed",
    "restore_failed": "failed",
}


class GroupResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    group: str
    result: dict[str, Any]


class SummariseEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_id: str
    results: list[GroupResult]
    # The reconciler's answer ({"groups": ...}), or {"failed": true, "error", "cause"} when its Task failed.
    reconciled: dict[str, Any] | None = None


def reconcile_summary(reconciled: dict[str, Any] | None) -> dict[str, Any]:
    """ok | incomplete | failed, with what it put back and which groups it did not finish."""
    if reconciled is None:
        return {"status": "failed", "error": "NoResult", "cause": "the sweep passed no reconcile result"}
    if reconciled.get("failed"):
        return {"status": "failed", "error": reconciled.get("error"), "cause": reconciled.get("cause")}
    per_group: dict[str, dict[str, Any]] = reconciled.get("groups") or {}
    failed = sorted(g for g, r in per_group.items() if r.get("failed"))
    incomplete = sorted(g for g, r in per_group.items() if r.get("incomplete"))
    return {"status": "failed" if failed else "incomplete" if incomplete else "ok",
            "restored": sum(len(r.get("restored") or []) for r in per_group.values()),
            "standby_exited": sum(len(r.get("standby_exited") or []) for r in per_group.values()),
            "stale_locks_released": sum(1 for r in per_group.values() if r.get("stale_lock_released")),
            "failed_groups": failed, "incomplete_groups": incomplete}


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=EXECUTION_ID)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    # A throttled audit write is AwsThrottled, which the Summarise state retries (PynamoDB's own errors are not).
    with store_errors.translated():
        return _summarise(event)


def _summarise(event: dict[str, Any]) -> dict[str, Any]:
    parsed = SummariseEvent.model_validate(event)
    per_group: dict[str, dict[str, Any]] = {}
    for item in parsed.results:
        outcome = str(item.result.get("outcome") or "failed")
        verdict = VERDICTS.get(outcome, "failed")
        per_group[item.group] = {"verdict": verdict, "outcome": outcome,
                                 "execution": item.result.get("execution"), "error": item.result.get("error")}
        audit.record(audit.AuditEntry(
            group=item.group, event=Reason.SWEEP_RESULT, at=clock.now(), execution_id=parsed.execution_id,
            trigger="schedule", reason=f"scheduled sweep: {item.group} {verdict} ({outcome})",
            details=per_group[item.group]))
    reconcile = reconcile_summary(parsed.reconciled)
    if parsed.reconciled is None or parsed.reconciled.get("failed"):
        # The reconciler's Task itself failed (timed out, crashed): it could not audit that, so we do.
        details = {"error": reconcile["error"], "cause": str(reconcile["cause"] or "")[:1000]}
        for group in per_group:
            audit.record(audit.AuditEntry(
                group=group, event=Reason.RECONCILE_FAILED, at=clock.now(), execution_id=parsed.execution_id,
                trigger="schedule", reason=f"the sweep's reconciler failed ({details['error']}): nothing left "
                f"out of service by a dead execution was put back in {group} this sweep", details=details))
            record_metrics(group, Reason.RECONCILE_FAILED, details)
    if reconcile["status"] == "failed":
        announce_reconcile_failed(parsed.execution_id, reconcile, parsed.reconciled, sorted(per_group))
    counts: dict[str, int] = {}
    for entry in per_group.values():
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    logger.info("sweep summary", extra={"counts": counts, "reconcile": reconcile})
    return {"groups": per_group, "counts": counts, "reconcile": reconcile}


def _fingerprint(reconcile: dict[str, Any], cause: dict[str, Any]) -> str:
    """What a failure is, for its once-a-day notice: the error and the open remediations. The same failure
    recurring every sweep is announced once a day; a different one the same day is announced too."""
    what = f"{cause.get('error') or reconcile.get('error')}|{','.join(sorted(cause.get('open_remediations') or []))}"
    return hashlib.sha256(what.encode()).hexdigest()[:12]


def _claim(group: str, fingerprint: str, now: float, execution_id: str) -> bool:
    """This failure's daily notice for ``group``; a claim that cannot be written announces anyway (a repeat
    during a DynamoDB outage is better than silence) and never fails the summary."""
    try:
        return notices.claim_daily(f"{NOTICE}#{fingerprint}", group, now, execution_id)
    except Exception as exc:
        logger.warning("reconcile-failed notice not claimed; announcing anyway", extra={"error": repr(exc)})
        return True


def announce_reconcile_failed(execution_id: str, reconcile: dict[str, Any], reconciled: dict[str, Any] | None,
                              groups: list[str]) -> None:
    """An instance a dead execution left out of service stays out until a sweep puts it back: say so, once per
    group per failure per UTC day (a failure retrying cannot cure, e.g. an instance someone stopped, fails
    every sweep: each sweep audits RECONCILE_FAILED and emits the metric, the message goes out once a day; a
    different failure of the group, another error or other open remediations, is announced when it comes).
    A message that no channel took is logged and its daily claims given back; the summary (and the audit)
    stand."""
    failed_groups = reconcile.get("failed_groups") or groups
    now = clock.now()
    per_group = (reconciled or {}).get("groups") or {}
    causes = {g: (per_group.get(g) or {}).get("failed") or {} for g in failed_groups}
    claimed = {g: _fingerprint(reconcile, causes[g]) for g in failed_groups}
    fresh = [g for g in failed_groups if _claim(g, claimed[g], now, execution_id)]
    if failed_groups and not fresh:
        logger.info("reconcile failure already announced today", extra={"groups": failed_groups})
        return
    cause = "; ".join(f"{g}: {causes[g].get('cause')}" for g in fresh if causes[g]) or str(reconcile.get("cause") or "")
    text = (f"the sweep's reconciler could not put back what dead executions left out of service in "
            f"{', '.join(fresh) or 'no declared group'}; it stays out until a sweep succeeds (the same failure is "
            "announced once a day; every sweep audits RECONCILE_FAILED)")
    detail = {"status": "reconcile_failed", "groups": fresh, "execution_id": execution_id,
              "error": reconcile.get("error") or "ItemsFailed", "cause": cause[:2000],
              "open_remediations": sorted({rid for g in fresh for rid in causes[g].get("open_remediations") or []})}
    try:
        notifications.announce(text, detail)
    except Exception as exc:  # never fails the summary: the audit has it, the sweeps-failed alarm is separate
        logger.warning(f"reconcile failure not announced: {type(exc).__name__}: {exc}")
        for group in fresh:
            try:
                notices.release_daily(f"{NOTICE}#{claimed[group]}", group, now, execution_id)
            except Exception as again:  # the claim then stands for the day
                logger.warning("reconcile-failed notice claim not released", extra={"error": repr(again)})
