"""Sweep step: what happened to each group, in the few words an operator wants."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from steps import clock
from steps.observability import logger, tracer
from steps.store import audit

# remediate's outcome.status -> the sweep's verdict
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


@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = SummariseEvent.model_validate(event)
    logger.set_correlation_id(parsed.execution_id)
    per_group: dict[str, dict[str, Any]] = {}
    for item in parsed.results:
        outcome = str(item.result.get("outcome") or "failed")
        verdict = VERDICTS.get(outcome, "failed")
        per_group[item.group] = {"verdict": verdict, "outcome": outcome,
                                 "execution": item.result.get("execution"), "error": item.result.get("error")}
        audit.record(audit.AuditEntry(
            group=item.group, event="SWEEP_RESULT", at=clock.now(), execution_id=parsed.execution_id,
            trigger="schedule", reason=f"scheduled sweep: {item.group} {verdict} ({outcome})",
            details=per_group[item.group]))
    counts: dict[str, int] = {}
    for entry in per_group.values():
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    logger.info("sweep summary", extra={"counts": counts})
    return {"groups": per_group, "counts": counts}
