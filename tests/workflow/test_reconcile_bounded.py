"""The reconciler's work is bounded (one paged read of each group's audit trail per sweep, from a saved
cursor, within the Lambda's remaining time) and its failures are visible (audited, a metric, the summary)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nightshift.runtime.lambda_router import LambdaContext
from steps.core import clock
from steps.store import audit, lifecycle, lock
from steps.sweep import reconcile, summarise_sweep
from tests.harness import CRASHED, crash_mid_drain, invoke

pytestmark = pytest.mark.workflow
SWEEP = "arn:aws:states:us-east-1:123456789012:execution:nightshift-sweep:s"
FILLER = 2000  # audit records written after the crash: a busy group's fortnight


def bury_under_history(h: Any, records: int = FILLER) -> None:
    """Thousands of later audit records for the group (one a minute), then a day passes."""
    start = clock.now() + 60
    for i in range(records):
        audit.record(audit.AuditEntry(group="web", event="NOTHING_TO_DO", at=start + 60 * i,
                                      execution_id=f"arn:aws:states:us-east-1:123456789012:execution:x:{i}",
                                      remediation_id=f"quiet-{i}", trigger="schedule", reason="filler"))
    h.rt.clock.advance(60 * records + 86400)


class QuerySpy:
    """Counts the DynamoDB Queries the reconciler sends for the audit trail's pages (``page_for_group``: a
    ``limit``) and the records each returns. Other Queries of the audit table — the once-per-sweep checks
    before a stale lock's or a failure's record, which read at most the last hour — are counted apart."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queries = 0
        self.others = 0
        self.read: list[str] = []
        original = audit.AuditRecord.query
        spy = self

        class Page:
            def __init__(self, results: Any) -> None:
                self.results = results

            def __iter__(self) -> Iterator[audit.AuditRecord]:
                for record in self.results:
                    spy.read.append(record.sk)
                    yield record

            @property
            def last_evaluated_key(self) -> Any:
                return self.results.last_evaluated_key

        def query(*args: Any, **kwargs: Any) -> Any:
            if "limit" not in kwargs:
                spy.others += 1
                return original(*args, **kwargs)
            spy.queries += 1
            return Page(original(*args, **kwargs))

        monkeypatch.setattr(audit.AuditRecord, "query", query)

    def reset(self) -> None:
        self.queries, self.others, self.read = 0, 0, []


class QueriesCostTime(LambdaContext):
    """A Lambda context whose remaining time drops by ``per_query_ms`` with every Query: a tiny budget,
    without measuring real time."""

    def __init__(self, spy: QuerySpy, budget_ms: int, per_query_ms: int) -> None:
        super().__init__("nightshift-reconcile")
        self.spy, self.budget_ms, self.per_query_ms = spy, budget_ms, per_query_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.budget_ms - self.per_query_ms * self.spy.queries


def trail_sort_keys() -> list[str]:
    return [r.sk for r in audit.AuditRecord.query("web")]


def emitted(h: Any) -> list[str]:
    return [m["Name"] for blob in h.rt.metrics for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def test_the_reconciler_pages_through_thousands_of_records_and_finds_the_one_left_out(
        harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness()
    crash_mid_drain(h)
    bury_under_history(h)
    everything = trail_sort_keys()
    assert len(everything) > FILLER
    # WHEN the reconciler runs with a small page size
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 100)
    spy = QuerySpy(monkeypatch)
    out = invoke(reconcile.handler, {"execution_id": SWEEP})
    # THEN it found the instance left out long before the thousands of later records, and put it back
    assert out["groups"]["web"] == {"restored": [h.leaker], "standby_exited": [], "stale_lock_released": CRASHED}
    assert lifecycle.load("crashed-mid-drain").state == "restored"
    assert all(h.sim.target_state(h.leaker, tg) not in (None, "draining") for tg in h.built.target_group_arns)
    # AND it read the trail once, a page at a time: every record exactly once, in pages of at most 100
    assert sorted(spy.read) == sorted(everything)
    assert len(everything) // 100 <= spy.queries <= len(everything) // 100 + 2
    assert spy.others == 2  # the once-per-sweep checks before LOCK_RELEASED_STALE and CLAIM_RELEASED_STALE


def test_a_tiny_budget_stops_it_and_the_next_sweep_finishes_without_rereading(
        harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness()
    crash_mid_drain(h)
    bury_under_history(h)
    everything = trail_sort_keys()
    deregistered = next(r.sk for r in audit.AuditRecord.query("web") if r.event == "DEREGISTERED")
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 100)
    spy = QuerySpy(monkeypatch)
    # WHEN the first sweep's Lambda has time for only a few Queries
    first = reconcile.handler({"execution_id": SWEEP},
                              QueriesCostTime(spy, reconcile.RESERVE_MS + 5_000, per_query_ms=1_000))
    read_first = list(spy.read)
    # THEN it stopped part way (having read the crash's DEREGISTERED), put nothing back yet, and said so
    assert deregistered in read_first and 0 < len(read_first) < len(everything) / 2
    assert first["groups"]["web"]["restored"] == []
    incomplete = first["groups"]["web"]["incomplete"]
    assert incomplete["audit_read_all"] is False and incomplete["records_read"] == len(read_first)
    assert "crashed-mid-drain" in incomplete["open_remediations"]
    audited = [r for r in h.audit_records() if r["event"] == "RECONCILE_INCOMPLETE"]
    assert len(audited) == 1 and audited[0]["details"]["records_read"] == len(read_first)
    assert "time budget" in audited[0]["details"]["cause"]
    assert "ReconcileIncomplete" in emitted(h)
    assert all(h.sim.target_state(h.leaker, tg) in (None, "draining") for tg in h.built.target_group_arns)
    # WHEN the next sweep runs with time enough
    spy.reset()
    second = invoke(reconcile.handler, {"execution_id": SWEEP})
    # THEN it read only what the first did not (never the DEREGISTERED again) and still put the instance back
    assert not set(spy.read) & set(read_first)
    assert deregistered not in spy.read
    assert set(everything) <= set(read_first) | set(spy.read)
    assert second["groups"]["web"] == {"restored": [h.leaker], "standby_exited": [],
                                       "stale_lock_released": CRASHED}
    assert lifecycle.load("crashed-mid-drain").state == "restored"
    # AND a third sweep reads next to nothing and restores nothing twice
    spy.reset()
    third = invoke(reconcile.handler, {"execution_id": SWEEP})
    assert third["groups"]["web"] == {"restored": [], "standby_exited": [], "stale_lock_released": None}
    assert len(spy.read) < 20


def test_a_reconciler_that_raises_shows_as_failed_in_the_sweep_summary_and_the_audit(harness: Any) -> None:
    h = harness()

    def broken_reconciler(name: str, *_: Any) -> None:
        if name == "nightshift-reconcile":
            raise RuntimeError("audit table unreachable")

    h.rt.router.before.append(broken_reconciler)
    # WHEN the sweep runs and its reconciler fails
    result = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    # THEN the sweep goes on (the group is remediated) but its summary says the reconciler failed, and why
    assert result["status"] == "SUCCEEDED", result.get("cause")
    summary = json.loads(result["output"])["summary"]
    assert summary["groups"]["web"]["verdict"] == "remediated"
    assert summary["reconcile"]["status"] == "failed"
    assert summary["reconcile"]["error"] == "RuntimeError"
    assert "audit table unreachable" in summary["reconcile"]["cause"]
    failed = [r for r in h.audit_records() if r["event"] == "RECONCILE_FAILED"]
    assert len(failed) == 1 and failed[0]["group"] == "web" and failed[0]["details"]["error"] == "RuntimeError"
    assert emitted(h).count("ReconcileFailed") == 1


def test_a_reconcile_cut_short_shows_as_incomplete_in_the_sweep_summary(
        harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness()
    crash_mid_drain(h)
    h.rt.clock.advance(3600)
    # GIVEN a Lambda whose remaining time is always below the reserve
    monkeypatch.setattr(reconcile, "RESERVE_MS", 10 ** 9)
    result = h.rt.wait(h.rt.start({}, machine="sweep"), timeout=300)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    output = json.loads(result["output"])
    # THEN nothing was put back this sweep, and the summary and the audit say the reconcile is incomplete
    assert output["summary"]["reconcile"]["status"] == "incomplete"
    assert output["summary"]["reconcile"]["incomplete_groups"] == ["web"]
    assert output["summary"]["reconcile"]["restored"] == 0
    assert "RECONCILE_INCOMPLETE" in h.audit_events()
    assert lifecycle.load("crashed-mid-drain").state == "draining"


def test_one_group_failing_inside_the_reconciler_is_audited_and_reported(
        harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness()

    def unreachable(keys: Any) -> None:
        raise ConnectionError("lock table unreachable")

    monkeypatch.setattr(lock, "slots", unreachable)
    out = invoke(reconcile.handler, {"execution_id": SWEEP})
    assert out["groups"]["web"]["failed"]["error"] == "ConnectionError"
    audited = [r for r in h.audit_records() if r["event"] == "RECONCILE_FAILED"]
    assert len(audited) == 1 and "lock table unreachable" in audited[0]["details"]["cause"]
    summary = invoke(summarise_sweep.handler, {"execution_id": SWEEP, "reconciled": out,
                                               "results": [{"group": "web", "result": {"outcome": "nothing_to_do"}}]})
    assert summary["reconcile"]["status"] == "failed" and summary["reconcile"]["failed_groups"] == ["web"]
    # the summariser does not audit it a second time: the reconciler already did
    assert [r["event"] for r in h.audit_records()].count("RECONCILE_FAILED") == 1
