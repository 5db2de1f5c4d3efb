"""One group's reconcile (steps/sweep/reconcile.py reconcile_group) called directly on moto and the fleet simulator:
what it puts back and takes out of Standby, what it leaves to a live execution, what it audits, and how it
says it was cut short or failed."""

from __future__ import annotations

from typing import Any

import pytest

from steps.core.exceptions import AwsThrottled, AwsUnavailable
from steps.remediate import put_back
from steps.store import audit, lifecycle, lock, reconcile_progress
from steps.sweep import reconcile
from tests.harness import DIRECT_EXECUTION, Direct, fail_first_audit, invoke

SWEEP = "arn:aws:states:us-east-1:123456789012:execution:nightshift-sweep:sweep-1"
GONE = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:gone"
LATER = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:direct-1-replay"


def opened(d: Direct, event: str = "DEREGISTERED", rid: str = "direct-1", at: float | None = None) -> None:
    """The audit record a step writes when it takes the instance out (of service, or into Standby)."""
    audit.record(audit.AuditEntry(group="web", event=event, reason=f"{event.lower()} by the test", at=at or d.now(),
                                  instance_id=d.instance, execution_id=DIRECT_EXECUTION, remediation_id=rid))


def left_out(d: Direct, **take_out: Any) -> None:
    d.take_out(**take_out)
    opened(d)
    reconcile_progress.mark_work("web", d.now())  # so a complete run is seen deleting it


def trail(event: str | None = None) -> list[dict[str, Any]]:
    return [audit.as_dict(r) for r in audit.for_group("web") if event is None or r.event == event]


def still_open() -> bool:
    """A complete run with nothing left open deletes the group's work marker."""
    return "web" in reconcile_progress.groups_with_work()


def status(monkeypatch: pytest.MonkeyPatch, running: dict[str, str]) -> None:
    monkeypatch.setattr(reconcile, "execution_status", lambda arn: running.get(arn, "SUCCEEDED"))


def metrics(d: Direct) -> list[tuple[str, Any, Any]]:
    """(metric name, its Group dimension, value) of every EMF blob the steps emitted."""
    return [(m["Name"], blob.get("Group"), blob[m["Name"]]) for blob in d.rt.metrics
            for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def warned(caplog: pytest.LogCaptureFixture, event: str) -> Any:
    [record] = [r for r in caplog.records if r.levelname == "WARNING" and getattr(r, "audit_event", None) == event]
    return record


class Remaining:
    """A Lambda context whose remaining time is read from a list (one value per look), then plenty."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def get_remaining_time_in_millis(self) -> float:
        return self.values.pop(0) if self.values else 600_000.0


def test_a_dead_remediation_is_put_back_recorded_and_closed(direct: Direct) -> None:
    left_out(direct)
    mark = direct.mark()
    result = reconcile.reconcile_group("web", SWEEP)
    assert result == {"restored": [direct.instance], "standby_exited": [], "stale_lock_released": None}
    assert direct.changes_since(mark) == direct.register_requests()
    assert direct.in_service()
    record = lifecycle.load("direct-1")
    assert record.state == "restored"
    assert record.history[-1] == {"from": "draining", "to": "restored", "at": direct.now(), "execution": SWEEP}
    assert record.facts["restore"] == {"error": "reconciled", "target_groups": direct.tgs,
                                       "standby": "not_needed", "being_replaced": False}
    [done] = trail("RECONCILED")
    assert done["instance_id"] == direct.instance and done["remediation_id"] == "direct-1"
    assert done["execution_id"] == SWEEP and done["trigger"] == "schedule"
    assert done["reason"] == (f"{direct.instance} was left out of service by {DIRECT_EXECUTION} (no longer "
                              "running): registered back in 2 target group(s)")
    # the state it was left in (audited before the record moves on to restored)
    assert done["details"] == {"lifecycle_state": "draining", "executions": [DIRECT_EXECUTION],
                               "target_groups": direct.tgs, "standby": "not_needed", "being_replaced": False}
    assert not still_open()
    mark = direct.mark()
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []  # closed: the next sweep does nothing
    assert direct.changes_since(mark) == [] and len(trail("RECONCILED")) == 1


@pytest.mark.parametrize("live", ["RUNNING", "PENDING_REDRIVE"])
def test_a_remediation_whose_execution_may_still_run_is_left_to_it(direct: Direct, monkeypatch: pytest.MonkeyPatch,
                                                                   live: str) -> None:
    left_out(direct)
    status(monkeypatch, {DIRECT_EXECUTION: live})
    mark = direct.mark()
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    assert direct.changes_since(mark) == [] and lifecycle.load("direct-1").state == "draining"
    assert still_open()


def test_any_live_execution_of_the_remediation_counts(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)
    record = lifecycle.load("direct-1")
    record.executions = [DIRECT_EXECUTION, LATER]
    lifecycle.save_facts(record)
    status(monkeypatch, {DIRECT_EXECUTION: "RUNNING", LATER: "FAILED"})
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    status(monkeypatch, {DIRECT_EXECUTION: "FAILED", LATER: "RUNNING"})
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    status(monkeypatch, {})
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == [direct.instance]
    assert f"left out of service by {LATER} " in trail("RECONCILED")[0]["reason"]  # the last execution named


@pytest.mark.parametrize("state", ["restored", "failed", "left_out", "healthy"])
def test_a_remediation_not_out_of_service_is_closed_without_acting(direct: Direct, state: str) -> None:
    left_out(direct, state=state)
    mark = direct.mark()
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    assert direct.changes_since(mark) == [] and trail("RECONCILED") == []
    assert lifecycle.load("direct-1").state == state
    assert not still_open()


@pytest.mark.parametrize("state", ["rebooting", "booting", "registering", "escalating", "verifying"])
def test_every_out_of_service_state_is_put_back(direct: Direct, state: str) -> None:
    left_out(direct, state=state)
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == [direct.instance]
    assert lifecycle.load("direct-1").state == "restored"


def test_an_expired_record_is_closed(direct: Direct) -> None:
    opened(direct, rid="expired-1")
    reconcile_progress.mark_work("web", direct.now())
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    assert not still_open()


def test_a_record_without_a_deregistration_is_closed_without_a_record(direct: Direct) -> None:
    direct.take_out(deregister=False)
    record = lifecycle.load("direct-1")
    record.facts = {"select": record.facts["select"]}
    lifecycle.save_facts(record)
    opened(direct)
    reconcile_progress.mark_work("web", direct.now())
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    assert lifecycle.load("direct-1").state == "draining" and trail("RECONCILED") == []
    assert not still_open()


def test_a_closing_event_closes_the_remediation_without_a_look(direct: Direct) -> None:
    for closing in ("RESTORED", "HEALTHY", "RECONCILED"):
        left_out(direct, remediation_id=f"r-{closing}")
        opened(direct, rid=f"r-{closing}")
        opened(direct, closing, rid=f"r-{closing}")
    mark = direct.mark()
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == []
    assert direct.changes_since(mark) == []


def test_a_throttled_put_back_is_tried_again_at_once(direct: Direct, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    left_out(direct)
    calls: list[str] = []
    real = put_back.put_back

    def throttled_once(facts: dict[str, Any]) -> put_back.PutBack:
        calls.append("put_back")
        if len(calls) == 1:
            raise AwsThrottled("RegisterTargets: Throttling")
        return real(facts)

    monkeypatch.setattr(reconcile.put_back, "put_back", throttled_once)
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == [direct.instance]
    assert calls == ["put_back", "put_back"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "reconcile direct-1: AwsThrottled: RegisterTargets: Throttling; trying it again at once"]


def test_a_put_back_failing_twice_by_an_outage_is_left_to_the_sweeps_retry(direct: Direct,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)
    tries: list[int] = []

    def unavailable(_facts: Any) -> Any:
        tries.append(1)
        raise AwsUnavailable("RegisterTargets: " + "x" * 400)

    monkeypatch.setattr(reconcile.put_back, "put_back", unavailable)
    result = reconcile.reconcile_group("web", SWEEP)
    assert len(tries) == 2
    cause = "RegisterTargets: " + "x" * 283  # cut to 300 characters
    failed = result.pop("failed")
    assert result == {"restored": [], "standby_exited": [], "stale_lock_released": None}
    assert failed == {"error": "ItemsFailed", "cause": f"direct-1: AwsUnavailable: {cause}",
                      "items": [{"remediation_id": "direct-1", "error": "AwsUnavailable", "cause": cause}],
                      "transient": True,  # the handler raises once every group is done: the sweep's Retry
                      "audit_read_all": True, "cursor": None, "records_read": 1, "pages": 1,
                      "open_remediations": ["direct-1"], "stale_lock_checked": True}
    # nothing audited or measured for what the Retry will cure (the summary audits it if the Retry gives up)
    assert trail("RECONCILE_FAILED") == [] and metrics(direct) == []
    assert still_open()


def test_one_failing_item_does_not_stop_the_others_and_the_cause_is_bounded(direct: Direct,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(7):
        left_out(direct, remediation_id=f"r-{n}")
        opened(direct, rid=f"r-{n}")
    real = put_back.put_back
    seen: list[int] = []

    def some_refused(facts: dict[str, Any]) -> put_back.PutBack:
        seen.append(1)
        if len(seen) % 2:
            raise RuntimeError("InvalidTarget " + "y" * 400)
        return real(facts)

    monkeypatch.setattr(reconcile.put_back, "put_back", some_refused)
    failed = reconcile.reconcile_group("web", SWEEP)["failed"]
    assert len(failed["items"]) == 4 and len(failed["cause"]) == 1000  # 4 causes of 319 characters, cut
    assert failed["cause"] == "; ".join(f"r-{n}: RuntimeError: InvalidTarget {'y' * 286}" for n in (0, 2, 4, 6))[:1000]
    assert failed["items"][0]["cause"] == "InvalidTarget " + "y" * 286
    assert len(trail("RECONCILED")) == 3


def test_a_reconcile_that_raises_is_audited_failed_with_what_remains(direct: Direct,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)

    def broken(*_: Any) -> Any:
        raise ValueError("z" * 1500)

    monkeypatch.setattr(reconcile.lock, "slots", broken)
    result = reconcile.reconcile_group("web", SWEEP)
    assert result["restored"] == [direct.instance]
    assert result["failed"] == {"error": "ValueError", "cause": "z" * 1000, "audit_read_all": True, "cursor": None,
                                "records_read": 1, "pages": 1, "open_remediations": [],
                                "stale_lock_checked": False}
    [audited] = trail("RECONCILE_FAILED")
    assert audited["reason"] == "reconcile of web failed: ValueError: " + "z" * 1500
    assert still_open()  # not a complete run: the marker stays


@pytest.mark.parametrize(("remaining", "cause", "restored", "read_all", "rid"), [
    ((19_999,), "time budget ran low while reading the audit trail", False, False, []),
    ((20_000, 19_999), "time budget ran low while putting instances back", False, True, ["direct-1"]),
    ((20_000, 20_000, 19_999), "time budget ran low before the stale lock check", True, True, []),
])
def test_a_low_budget_stops_and_says_what_remains(direct: Direct, remaining: tuple[float, ...], cause: str,
                                                  restored: bool, read_all: bool, rid: list[str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    left_out(direct)
    result = reconcile.reconcile_group("web", SWEEP, reconcile.Budget(Remaining(*remaining)))
    assert result["restored"] == ([direct.instance] if restored else [])
    assert result["incomplete"] == {"cause": cause, "audit_read_all": read_all, "cursor": None,
                                    "records_read": 1 if read_all else 0, "pages": 1 if read_all else 0,
                                    "open_remediations": rid, "stale_lock_checked": False}
    [audited] = trail("RECONCILE_INCOMPLETE")
    assert audited["reason"] == (f"reconcile of web cut short ({cause}): {len(rid)} open remediation(s) and "
                                 f"{'no' if read_all else 'more'} unread audit left for the next sweep")
    assert audited["details"] == result["incomplete"] and audited["trigger"] == "schedule"
    assert still_open()
    logged = warned(caplog, "RECONCILE_INCOMPLETE")
    assert logged.getMessage() == audited["reason"] and logged.details == result["incomplete"]
    assert metrics(direct) == [("ReconcileIncomplete", "web", [1.0])]


def test_progress_saved_by_another_sweep_meanwhile_cuts_the_run_short(direct: Direct,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)

    def conflict(progress: Any) -> None:
        raise reconcile_progress.ProgressConflict("reconcile#web was saved by another sweep meanwhile")

    monkeypatch.setattr(reconcile.reconcile_progress, "save", conflict)
    result = reconcile.reconcile_group("web", SWEEP)
    assert result["incomplete"]["cause"] == "reconcile#web was saved by another sweep meanwhile"
    assert [r["event"] for r in trail()].count("RECONCILE_INCOMPLETE") == 1


def test_settled_records_are_folded_behind_the_cursor_a_page_at_a_time(direct: Direct,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)
    start = direct.now()
    for n in range(3):
        opened(direct, "HEALTHY", rid=f"old-{n}", at=start + n)
    direct.rt.clock.advance(reconcile.SETTLE_SECONDS + 10)
    opened(direct, "HEALTHY", rid="fresh", at=direct.now() - reconcile.SETTLE_SECONDS + 1)  # not settled yet
    reconcile.reconcile_group("web", SWEEP)
    progress = reconcile_progress.load("web")
    keys = [r.sk for r in audit.for_group("web")]
    assert progress.cursor == keys[2]  # the last settled record
    assert int(progress.records_read) == 3 and progress.updated_at == direct.now()
    direct.rt.clock.advance(reconcile.SETTLE_SECONDS)
    reconcile.reconcile_group("web", SWEEP)  # reads only after the cursor
    progress = reconcile_progress.load("web")
    assert progress.cursor == keys[3] and int(progress.records_read) == 4


def test_an_open_remediation_folded_long_ago_is_still_put_back(direct: Direct) -> None:
    left_out(direct)
    direct.rt.clock.advance(reconcile.SETTLE_SECONDS + 1)
    reconcile_progress.mark_work("web", direct.now())
    saved = reconcile_progress.load("web")
    saved.open_items = {"DEREGISTERED": {"direct-1": 1.0}}
    saved.cursor = "~"  # after every record: nothing left to read
    reconcile_progress.save(saved)
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == [direct.instance]
    assert reconcile_progress.open_items(reconcile_progress.load("web")) == {"DEREGISTERED": {}}
    assert not still_open()


def test_the_lookback_bounds_the_first_read(direct: Direct) -> None:
    opened(direct, at=direct.now() - reconcile.LOOKBACK_SECONDS - 1)  # too old to read
    opened(direct, "STANDBY_ENTERED", at=direct.now() - reconcile.LOOKBACK_SECONDS + 10)
    result = reconcile.reconcile_group("web", SWEEP, reconcile.Budget(Remaining(60_000, 60_000, 19_999)))
    assert result["incomplete"]["records_read"] == 1


# -- the group lock --------------------------------------------------------------------------------------------

def test_a_lock_whose_owner_ended_is_released_and_audited(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    now = direct.now()
    lock.acquire("web", GONE, now, 7200, lambda arn: "SUCCEEDED")
    status(monkeypatch, {})
    assert reconcile.reconcile_group("web", SWEEP)["stale_lock_released"] == GONE
    assert lock.holder("web") is None
    [released] = trail("LOCK_RELEASED_STALE")
    assert released["reason"] == (f"releasing the lock held by {GONE}, which is no longer running (conditionally on "
                                  "that owner: if it released the lock itself meanwhile, nothing more is done)")
    assert released["details"] == {"owner": GONE, "expires_at": now + 7200, "slot": "web"}
    assert released["execution_id"] == SWEEP and released["trigger"] == "schedule"


@pytest.mark.parametrize(("owner_status", "age", "released"), [
    ("RUNNING", 10_000, False), ("PENDING_REDRIVE", 10_000, False), ("FAILED", 0, True),
    ("GONE", 119, False), ("GONE", 120, True),  # DescribeExecution may not find a new execution for 120 s
])
def test_the_lock_is_released_only_from_an_owner_that_no_longer_runs(direct: Direct,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      owner_status: str, age: float,
                                                                      released: bool) -> None:
    lock.acquire("web", GONE, direct.now(), 7200, lambda arn: "SUCCEEDED")
    direct.rt.clock.advance(age)
    status(monkeypatch, {GONE: owner_status})
    assert reconcile.reconcile_group("web", SWEEP)["stale_lock_released"] == (GONE if released else None)
    assert (lock.holder("web") is None) is released


def test_a_lock_released_by_its_owner_meanwhile_is_not_claimed_released(direct: Direct,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    lock.acquire("web", GONE, direct.now(), 7200, lambda arn: "SUCCEEDED")
    status(monkeypatch, {})
    monkeypatch.setattr(reconcile.lock, "release", lambda group, owner: False)
    assert reconcile.reconcile_group("web", SWEEP)["stale_lock_released"] is None
    # the audit is written ahead of the release (so a throttled audit write can never follow an unrecorded
    # release); its reason says the release is conditional
    [ahead] = trail("LOCK_RELEASED_STALE")
    assert "conditionally on that owner" in ahead["reason"]


def test_a_stale_release_whose_audit_write_is_throttled_is_recorded_by_the_retry(
        direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: the release went first, its audit was throttled, and the sweep's Retry found no lock to
    release again: an action with no record. Now the record goes first; the Retry writes it and releases."""
    from steps.core.exceptions import AwsThrottled

    lock.acquire("web", GONE, direct.now(), 7200, lambda arn: "SUCCEEDED")
    status(monkeypatch, {})
    fail_first_audit(monkeypatch, reconcile, "LOCK_RELEASED_STALE",
                     AwsThrottled("PutItem: ProvisionedThroughputExceededException"))
    with pytest.raises(AwsThrottled):
        invoke(reconcile.handler, {"execution_id": SWEEP})
    direct.rt.clock.advance(4)
    assert invoke(reconcile.handler, {"execution_id": SWEEP})["groups"]["web"]["stale_lock_released"] == GONE
    assert lock.holder("web") is None
    assert len(trail("LOCK_RELEASED_STALE")) == 1


# -- Standby -----------------------------------------------------------------------------------------------------

def in_standby(d: Direct, settle: bool = True, **take_out: Any) -> None:
    """The instance was put in Standby (and, ``settle``, its deregistration delay ran out)."""
    d.take_out(standby=d.enter_standby(), **take_out)
    opened(d, "STANDBY_ENTERED")
    reconcile_progress.mark_work("web", d.now())
    if settle:
        d.rt.clock.advance(400)



def exit_standby(d: Direct) -> tuple[str, dict[str, Any]]:
    return "ExitStandby", {"AutoScalingGroupName": "web-asg", "InstanceIds": [d.instance]}


def test_a_put_back_from_standby_exits_it_and_says_so(direct_asg: Direct) -> None:
    in_standby(direct_asg)
    opened(direct_asg)
    mark = direct_asg.mark()
    result = reconcile.reconcile_group("web", SWEEP)
    assert result == {"restored": [direct_asg.instance], "standby_exited": [], "stale_lock_released": None}
    assert direct_asg.changes_since(mark) == [exit_standby(direct_asg), *direct_asg.register_requests()]
    [exited] = trail("STANDBY_EXITED")
    assert exited["reason"] == f"{direct_asg.instance} left Auto Scaling Standby"
    assert exited["instance_id"] == direct_asg.instance
    assert exited["remediation_id"] == "direct-1" and exited["execution_id"] == SWEEP
    assert not still_open()


def test_a_standby_its_restore_could_not_end_is_ended(direct_asg: Direct) -> None:
    in_standby(direct_asg, state="restored")
    mark = direct_asg.mark()
    result = reconcile.reconcile_group("web", SWEEP)
    assert result == {"restored": [], "standby_exited": [direct_asg.instance], "stale_lock_released": None}
    assert direct_asg.changes_since(mark) == [exit_standby(direct_asg)]
    [exited] = trail("STANDBY_EXITED")
    assert exited["reason"] == (f"{direct_asg.instance} left Auto Scaling Standby that {DIRECT_EXECUTION} could "
                                "not end")
    assert exited["instance_id"] == direct_asg.instance and exited["trigger"] == "schedule"
    assert not still_open()


def test_a_standby_still_entering_waits_for_the_next_sweep(direct_asg: Direct) -> None:
    in_standby(direct_asg, settle=False, state="restored")
    mark = direct_asg.mark()
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == []
    assert direct_asg.changes_since(mark) == [] and still_open()
    direct_asg.rt.clock.advance(400)
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == [direct_asg.instance]


def test_a_standby_of_a_live_remediation_is_left_to_it(direct_asg: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    in_standby(direct_asg, state="restored")
    status(monkeypatch, {DIRECT_EXECUTION: "RUNNING"})
    mark = direct_asg.mark()
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == []
    assert direct_asg.changes_since(mark) == [] and still_open()


@pytest.mark.parametrize("state", ["left_out", "replaced"])
def test_a_standby_deliberately_kept_is_not_ended(direct_asg: Direct, state: str) -> None:
    in_standby(direct_asg, state=state)
    mark = direct_asg.mark()
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == []
    assert direct_asg.changes_since(mark) == [] and not still_open()


def test_a_standby_already_ended_or_unrecorded_is_closed(direct_asg: Direct) -> None:
    in_standby(direct_asg, state="restored")
    direct_asg.rt.client("autoscaling").exit_standby(AutoScalingGroupName="web-asg",
                                                     InstanceIds=[direct_asg.instance])
    mark = direct_asg.mark()
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == []
    assert direct_asg.changes_since(mark) == [] and not still_open()
    opened(direct_asg, "STANDBY_ENTERED", rid="expired-1")
    reconcile_progress.mark_work("web", direct_asg.now())
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == [] and not still_open()


def test_a_standby_record_without_a_deregistration_is_closed(direct_asg: Direct) -> None:
    in_standby(direct_asg, state="restored")
    record = lifecycle.load("direct-1")
    record.facts = {**record.facts, "deregister": {}}
    lifecycle.save_facts(record)
    mark = direct_asg.mark()
    assert reconcile.reconcile_group("web", SWEEP)["standby_exited"] == []
    assert direct_asg.changes_since(mark) == [] and not still_open()


def test_a_throttled_stale_release_retried_by_the_sweep_leaves_one_record(direct: Direct,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The record goes first, the release (DeleteItem) is throttled, the sweep's Retry (a new run, a new
    instant) releases it: one LOCK_RELEASED_STALE, not one per attempt (found by review)."""
    from steps.core.exceptions import AwsThrottled

    lock.acquire("web", GONE, direct.now(), 7200, lambda arn: "SUCCEEDED")
    status(monkeypatch, {})
    real = reconcile.lock.release
    calls: list[int] = []

    def first_release_throttled(group: str, owner: str) -> bool:
        if not calls:
            calls.append(1)
            raise AwsThrottled("DeleteItem: ProvisionedThroughputExceededException")
        return real(group, owner)

    monkeypatch.setattr(reconcile.lock, "release", first_release_throttled)
    with pytest.raises(AwsThrottled):
        invoke(reconcile.handler, {"execution_id": SWEEP})
    direct.rt.clock.advance(4)
    assert invoke(reconcile.handler, {"execution_id": SWEEP})["groups"]["web"]["stale_lock_released"] == GONE
    assert len(trail("LOCK_RELEASED_STALE")) == 1
