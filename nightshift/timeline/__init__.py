"""Pictures of one remediation: each target group's view of the instance over time, the group's
healthy capacity underneath, and the workflow's key events.

Two sources, one renderer:
* ``model_from_audit(records, history)`` - AWS data only (audit trail + execution history); works against
  AWS and in the local runtime. ``timeline_for_execution(sfn, arn)`` fetches both.
* ``model_from_simulator(sim, built, instance_id, start, end)`` - exact states from the fleet simulator.
``render_timeline(model)`` returns standalone SVG text; ``write_timeline(model, path)`` writes SVG, or
HTML embedding it when ``path`` ends in ``.html``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nightshift.timeline import history as execution_history
from nightshift.timeline.from_audit import instance_of, model_from_audit
from nightshift.timeline.from_simulator import model_from_simulator
from nightshift.timeline.model import TimelineModel
from nightshift.timeline.svg import render_timeline

__all__ = ["TimelineModel", "fetch_history", "model_from_audit", "model_from_simulator", "render_timeline",
           "timeline_for_execution", "timeline_of_local_run", "write_timeline"]

# Audit records are read from a little before the execution started (clock skew between writers).
AUDIT_LOOKBACK_SECONDS = 60.0


def write_timeline(model: TimelineModel, path: str | Path) -> Path:
    """Write the picture; ``.html``/``.htm`` gets a page embedding the SVG, anything else plain SVG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    svg = render_timeline(model)
    if path.suffix.lower() in (".html", ".htm"):
        from xml.sax.saxutils import escape

        svg = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(model.title)}</title>'
               f'</head>\n<body style="margin:0;background:#fff">\n{svg}</body></html>\n')
    path.write_text(svg, encoding="utf-8")
    return path


def fetch_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    from nightshift.operations import execution_history

    return execution_history(sfn, execution_arn)


def timeline_for_execution(sfn: Any, execution_arn: str) -> TimelineModel:
    """The picture of one execution from AWS data only: its history (``sfn``, a Step Functions client)
    and its group's audit records (the audit table, through ``steps.store.audit``)."""
    from steps.store import audit

    history = fetch_history(sfn, execution_arn)
    group = execution_history.group(history)
    if not group:
        raise ValueError(f"{execution_arn}: cannot tell which group it remediates (not a remediate execution?)")
    start, end = execution_history.window(history)
    records = [audit.as_dict(r) for r in _audit_between(group, start - AUDIT_LOOKBACK_SECONDS,
                                                          end + AUDIT_LOOKBACK_SECONDS)]
    return model_from_audit(records, history, execution_arn=execution_arn)


def _audit_between(group: str, since: float, until: float) -> Any:
    """The group's audit records in [since, until] (a range on the sort key, which starts with the ISO time),
    so an old execution does not read every later record of its group."""
    from datetime import UTC, datetime

    from steps.store.audit import AuditRecord

    def stamp(at: float) -> str:
        return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")

    return AuditRecord.query(group, range_key_condition=AuditRecord.sk.between(stamp(since), stamp(until + 1)))


def timeline_of_local_run(sim: Any, built: Any, history: list[dict[str, Any]],
                          records: Iterable[Mapping[str, Any]], execution_arn: str) -> TimelineModel | None:
    """The exact picture of a local run (simulator states, audit markers); None when no instance was
    selected (nothing to do, lock held)."""
    mine = [dict(r) for r in records if r.get("execution_id") == execution_arn]
    instance_id = instance_of(mine)
    if instance_id is None:
        return None
    start, end = execution_history.window(history)
    return model_from_simulator(sim, built, instance_id, start, end, records=mine, history=history,
                                execution_arn=execution_arn)
