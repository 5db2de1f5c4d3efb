"""Rules the survivors of the 2026-11-28 mutmut run showed unstated (docs/mutation.md): the reconciler's
budget and page size, an item left for the next sweep, a gone instance, a concurrent reconciler, the
idempotency of its audit writes and which owner a once-per-sweep check looks for. Expected values by hand."""

from __future__ import annotations

from typing import Any

import pytest

from steps.core.exceptions import AwsCallFailed, AwsThrottled, LifecycleConflict
from steps.remediate import put_back, standby
from steps.store import audit, claim, lifecycle, lock, reconcile_progress
from steps.sweep import reconcile
from tests.harness import DIRECT_EXECUTION, Direct, fail_first_call

SWEEP = "arn:aws:states:us-east-1:123456789012:execution:nightshift-sweep:sweep-28"
OTHER_SWEEP = "arn:aws:states:us-east-1:123456789012:execution:nightshift-sweep:manual-1"
DEAD_A = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:dead-a"
DEAD_B = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:dead-b"


class Remaining:
    """A Lambda context whose remaining time is read from a list (one value per look), then plenty."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def get_remaining_time_in_millis(self) -> float:
        return self.values.pop(0) if self.values else 600_000.0


def opened(d: Direct, event: str = "DEREGISTERED", rid: str = "direct-1") -> None:
    audit.record(audit.AuditEntry(group="web", event=event, reason=f"{event.lower()} by the test", at=d.now(),
                                  instance_id=d.instance, execution_id=DIRECT_EXECUTION, remediation_id=rid))


def left_out(d: Direct, **take_out: Any) -> None:
    d.take_out(**take_out)
    opened(d)
    reconcile_progress.mark_work("web", d.now())


def trail(group: str = "web", event: str | None = None) -> list[dict[str, Any]]:
    return [audit.as_dict(r) for r in audit.for_group(group) if event is None or r.event == event]


def still_open() -> bool:
    return "web" in reconcile_progress.groups_with_work()


# -- the time budget and the audit trail's pages -----------------------------------------------------------------

def test_each_group_runs_on_the_sweeps_budget(direct: Direct) -> None:
    left_out(direct)
    result = reconcile._reconcile_one("web", SWEEP, reconcile.Budget(Remaining(19_999)))
    assert result["incomplete"]["cause"] == "time budget ran low while reading the audit trail"
    assert result["restored"] == [] and direct.out_of_service()


def test_a_groups_own_transient_failure_keeps_at_most_1000_characters_of_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(*_: Any) -> Any:
        raise AwsThrottled("x" * 5000)

    monkeypatch.setattr(reconcile, "reconcile_group", throttled)
    failed = reconcile._reconcile_one("web", SWEEP, reconcile.Budget(None))["failed"]
    assert failed == {"error": "AwsThrottled", "cause": "x" * 1000, "transient": True}


def test_the_audit_trail_is_read_a_page_of_page_size_records_at_a_time(direct: Direct,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)
    for n in range(5):  # settled records (older than SETTLE_SECONDS) that open nothing
        audit.record(audit.AuditEntry(group="web", event="SKIPPED_WINDOW", reason=f"note {n}",
                                      at=direct.now() - 2000 + n))
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    run.load()
    mark = direct.mark()
    run.read()
    assert (run.pages, run.records_read, run.read_all) == (3, 5, True)  # 2 + 2 + 1
    assert run.progress is not None and run.progress.records_read == 5
    queries = [c.params for c in direct.rt.api_calls()[mark:] if c.operation == "Query"]
    assert [q.get("Limit") for q in queries] == [2, 2, 2]


def test_a_group_whose_progress_cannot_be_read_fails_transiently_with_nothing_read(
        direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(_group: str) -> Any:
        raise AwsThrottled("GetItem: throttled")

    monkeypatch.setattr(reconcile.reconcile_progress, "load", throttled)
    assert reconcile.reconcile_group("web", SWEEP) == {
        "restored": [], "standby_exited": [], "stale_lock_released": None,
        "failed": {"error": "AwsThrottled", "cause": "GetItem: throttled", "audit_read_all": False, "cursor": None,
                   "records_read": 0, "pages": 0, "open_remediations": [], "stale_lock_checked": False,
                   "transient": True}}


def test_a_budget_running_low_while_ending_standby_says_so(direct: Direct) -> None:
    opened(direct, "STANDBY_ENTERED")
    result = reconcile.reconcile_group("web", SWEEP, reconcile.Budget(Remaining(20_000, 19_999)))
    assert result["incomplete"]["cause"] == "time budget ran low while ending Standby"
    assert result["incomplete"]["open_remediations"] == ["direct-1"]
    [audited] = trail(event="RECONCILE_INCOMPLETE")
    assert audited["reason"].startswith("reconcile of web cut short (time budget ran low while ending Standby)")


# -- an instance still starting: left for the next sweep, not a failure ------------------------------------------

def test_an_instance_started_again_is_left_open_for_the_next_sweep_not_retried(direct: Direct,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct, stop_start={"stop_intended_at": direct.now(), "stop_sent_at": direct.now()})
    power = {"state": "stopped"}
    started: list[str] = []
    monkeypatch.setattr(put_back.ec2, "power", lambda instance: (power["state"], False, "seen"))
    monkeypatch.setattr(put_back.ec2, "start_instance", started.append)
    mark = direct.mark()
    result = reconcile.reconcile_group("web", SWEEP)
    assert result == {"restored": [], "standby_exited": [], "stale_lock_released": None}  # no failure
    assert started == [direct.instance]  # once: not tried again at once
    assert direct.changes_since(mark) == []
    assert trail(event="RECONCILED") == [] and trail(event="RECONCILE_FAILED") == []
    assert still_open() and lifecycle.load("direct-1").state == "draining"
    power["state"] = "running"  # the next sweep finds it running and puts it back
    direct.rt.clock.advance(60)
    assert reconcile.reconcile_group("web", SWEEP + "-next")["restored"] == [direct.instance]
    assert started == [direct.instance] and direct.changes_since(mark) == direct.register_requests()


def test_a_waiting_error_is_answered_not_done_after_one_try() -> None:
    tries: list[str] = []

    def waiting(group: str, rid: str, now: float, sweep: str) -> Any:
        tries.append(rid)
        raise put_back._not_running("i-1 is pending")

    assert reconcile._with_retries(waiting, "web", "rid-1", 0.0, SWEEP) == (None, False)
    assert tries == ["rid-1"]
    error = put_back._not_running("m")
    assert error.waiting is True and str(error) == "m"


# -- an instance gone since, a concurrent reconciler ---------------------------------------------------------------

def test_a_gone_instance_is_closed_and_said_gone_not_put_back(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)

    def refused(arn: str, instance: str, port: int | None) -> None:
        raise AwsCallFailed("RegisterTargets: InvalidTarget")

    asked: list[str] = []

    def power(instance: str) -> tuple[str, bool, str]:
        asked.append(instance)
        return "terminated", False, "seen"

    monkeypatch.setattr(put_back.elbv2, "register", refused)
    monkeypatch.setattr(put_back.ec2, "power", power)
    result = reconcile.reconcile_group("web", SWEEP)
    assert result == {"restored": [], "standby_exited": [], "stale_lock_released": None}
    assert asked == [direct.instance]
    [record] = trail(event="RECONCILED")
    assert record["reason"] == (f"{direct.instance} was left out of service by {DIRECT_EXECUTION} (no longer "
                                f"running): {direct.instance} no longer exists (terminated): nothing to put back, "
                                "closed")
    assert record["details"]["gone"] == "terminated" and record["instance_id"] == direct.instance
    assert not still_open()


def test_the_gone_check_asks_about_the_refused_instance(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    facts = {"deregister": {"instance_id": direct.instance, "standby": None,
                            "target_groups": [{"arn": tg, "port": None} for tg in direct.tgs]}}
    asked: list[Any] = []

    def power(instance: Any) -> tuple[str, bool, str]:
        asked.append(instance)
        return ("shutting-down", False, "seen") if instance == direct.instance else ("running", False, "seen")

    def refused(arn: str, instance: str, port: int | None) -> None:
        raise AwsCallFailed("RegisterTargets: InvalidTarget")

    monkeypatch.setattr(put_back.elbv2, "register", refused)
    monkeypatch.setattr(put_back.ec2, "power", power)
    assert put_back.put_back(facts) == put_back.PutBack(direct.instance, [], standby.NOT_NEEDED, gone="shutting-down")
    assert asked == [direct.instance]


def test_a_remediation_closed_by_a_concurrent_reconciler_is_done_not_failed(direct: Direct,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)
    real = lifecycle.advance

    def raced(record: Any, trigger: str, result: dict[str, Any], now: float, execution: str, **kw: Any) -> Any:
        # the manual sweep read, put back and closed it between our read and our write
        real(lifecycle.load(record.remediation_id), trigger, {"error": "reconciled"}, now, OTHER_SWEEP)
        return real(record, trigger, result, now, execution, **kw)  # ours: conditional on the old state

    monkeypatch.setattr(reconcile.lifecycle, "advance", raced)
    result = reconcile.reconcile_group("web", SWEEP)
    assert result == {"restored": [direct.instance], "standby_exited": [], "stale_lock_released": None}
    assert trail(event="RECONCILE_FAILED") == [] and not still_open()
    assert direct.in_service()


def test_a_conflict_while_the_record_still_says_out_is_a_failure(direct: Direct,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)

    def conflict(*_: Any, **__: Any) -> Any:
        raise LifecycleConflict("direct-1 changed meanwhile")

    monkeypatch.setattr(reconcile.lifecycle, "advance", conflict)
    failed = reconcile.reconcile_group("web", SWEEP)["failed"]
    assert failed["items"] == [{"remediation_id": "direct-1", "error": "LifecycleConflict",
                                "cause": "direct-1 changed meanwhile"}]
    assert failed["transient"] is False and still_open()


# -- idempotent audit writes ----------------------------------------------------------------------------------------

def test_an_item_tried_again_after_a_throttled_write_leaves_one_reconciled_record(
        direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    left_out(direct)
    real = lifecycle.advance
    calls: list[str] = []

    def throttled_once(*args: Any, **kw: Any) -> Any:
        calls.append("advance")
        if len(calls) == 1:
            raise AwsThrottled("PutItem: throttled")
        return real(*args, **kw)

    monkeypatch.setattr(reconcile.lifecycle, "advance", throttled_once)
    assert reconcile.reconcile_group("web", SWEEP)["restored"] == [direct.instance]
    assert calls == ["advance", "advance"]
    assert [(r["event"], r["remediation_id"], r["execution_id"]) for r in trail(event="RECONCILED")] == [
        ("RECONCILED", "direct-1", SWEEP)]


def test_the_same_reconcile_record_written_twice_is_one_item(direct: Direct) -> None:
    now = direct.now()
    for _ in range(2):
        reconcile._record("web", "STANDBY_EXITED", now, SWEEP, "rid-1", "i-1", "left Standby")
    reconcile._record("web", "STANDBY_EXITED", now, SWEEP, "rid-2", "i-2", "left Standby")
    reconcile._record("web", "STANDBY_EXITED", now, OTHER_SWEEP, "rid-1", "i-1", "left Standby")
    assert sorted((r["remediation_id"], r["execution_id"]) for r in trail()) == [
        ("rid-1", OTHER_SWEEP), ("rid-1", SWEEP), ("rid-2", SWEEP)]


def _stale_claim(instance: str, owner: str, d: Direct) -> None:
    assert claim.acquire(instance, owner, "web", f"rid-{owner[-1]}", d.now(), 7200, lambda _: "GONE").claimed


def test_each_stale_claim_is_audited_for_its_own_owner(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    _stale_claim("i-0000000000000000a", DEAD_A, direct)
    _stale_claim("i-0000000000000000b", DEAD_B, direct)
    direct.rt.clock.advance(300)
    monkeypatch.setattr(reconcile, "execution_status", lambda arn: "SUCCEEDED")
    released = reconcile.release_stale_claims(SWEEP, reconcile.Budget(None))
    assert sorted(released) == ["i-0000000000000000a", "i-0000000000000000b"]
    assert sorted((r["instance_id"], r["details"]["owner"]) for r in trail(event="CLAIM_RELEASED_STALE")) == [
        ("i-0000000000000000a", DEAD_A), ("i-0000000000000000b", DEAD_B)]


def test_a_claim_audit_written_again_by_a_retry_that_cannot_see_it_is_one_record(
        direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    _stale_claim("i-0000000000000000a", DEAD_A, direct)
    direct.rt.clock.advance(300)
    monkeypatch.setattr(reconcile, "execution_status", lambda arn: "SUCCEEDED")
    monkeypatch.setattr(reconcile, "_audited_by_this_sweep", lambda *_: False)  # its read failed: "not yet"
    fail_first_call(monkeypatch, reconcile.claim, "release", AwsThrottled("DeleteItem: throttled"))
    with pytest.raises(AwsThrottled):
        reconcile.release_stale_claims(SWEEP, reconcile.Budget(None))
    assert reconcile.release_stale_claims(SWEEP, reconcile.Budget(None)) == ["i-0000000000000000a"]
    assert [r["details"]["owner"] for r in trail(event="CLAIM_RELEASED_STALE")] == [DEAD_A]


def test_a_stale_lock_is_audited_for_its_owner_even_after_another_owners_release(direct: Direct) -> None:
    audit.record(audit.AuditEntry(group="web", event="LOCK_RELEASED_STALE", at=direct.now(), execution_id=SWEEP,
                                  trigger="schedule", reason="an earlier attempt released A's lock",
                                  details={"owner": DEAD_A}))
    assert lock.acquire("web", DEAD_B, direct.now(), 3600, lambda _: "GONE").acquired
    direct.rt.clock.advance(lock.MISSING_OWNER_GRACE_SECONDS + 1)  # B is not found: dead once past the grace
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    run.release_stale_lock()
    assert run.released == DEAD_B and lock.holder("web") is None
    assert [r["details"]["owner"] for r in trail(event="LOCK_RELEASED_STALE")] == [DEAD_A, DEAD_B]


def test_transient_causes_of_several_groups_are_joined_by_a_semicolon() -> None:
    with pytest.raises(AwsThrottled) as raised:
        reconcile.raise_if_transient({
            "b": {"failed": {"error": "AwsThrottled", "cause": "y", "transient": True, "open_remediations": ["r2"]}},
            "a": {"failed": {"error": "AwsUnavailable", "cause": "x", "transient": True}}})
    assert str(raised.value) == ("reconcile of a, b hit AWS errors, tried again by the sweep: "
                                 "a: AwsUnavailable: x (open: ); b: AwsThrottled: y (open: r2)")


# --- survivors of the complete run at c89fe79 (docs/mutation.md, "The 46 survivors of that run") -------------

def test_a_lock_audit_written_again_by_a_retry_that_cannot_see_it_is_one_record(
        direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stale lock; the release is throttled after its audit was written, and the retry's "already
    # audited?" read cannot see that record (the by-group index is eventually consistent)
    assert lock.acquire("web", DEAD_A, direct.now(), 3600, lambda _: "GONE").acquired
    direct.rt.clock.advance(lock.MISSING_OWNER_GRACE_SECONDS + 1)
    monkeypatch.setattr(reconcile, "_audited_by_this_sweep", lambda *_: False)
    fail_first_call(monkeypatch, reconcile.lock, "release", AwsThrottled("DeleteItem: throttled"))
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    with pytest.raises(AwsThrottled):
        run.release_stale_lock()
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    run.release_stale_lock()
    # THEN the lock is released and its release is one record (the same idempotency key both times)
    assert run.released == DEAD_A and lock.holder("web") is None
    assert [r["details"]["owner"] for r in trail(event="LOCK_RELEASED_STALE")] == [DEAD_A]


def test_what_a_cut_short_run_leaves_names_the_saved_cursor(direct: Direct) -> None:
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    run.progress = reconcile_progress.ReconcileProgress("reconcile#web", cursor="1795846169.1#SELECTED#x")
    assert run.remains()["cursor"] == "1795846169.1#SELECTED#x"
    run.progress = reconcile_progress.ReconcileProgress("reconcile#web")  # nothing folded in yet: ""
    assert run.remains()["cursor"] is None


def test_without_a_lambda_context_the_budget_is_ninety_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    # the reconcile function's timeout less the 20 s reserve, from when the budget was made
    monkeypatch.setattr(reconcile.time, "monotonic", lambda: 1_000.0)
    budget = reconcile.Budget(None)
    assert budget.remaining_ms() == 90_000.0
    monkeypatch.setattr(reconcile.time, "monotonic", lambda: 1_070.5)
    assert budget.remaining_ms() == 19_500.0 and budget.low()


def _deregistered(d: Direct, rid: str, at: float) -> None:
    audit.record(audit.AuditEntry(group="web", event="DEREGISTERED", reason="deregistered by the test", at=at,
                                  instance_id=d.instance, execution_id=DIRECT_EXECUTION, remediation_id=rid))


def test_unsettled_records_are_acted_on_but_never_saved_with_the_cursor(direct: Direct) -> None:
    """Records younger than the 900 s settling time (a step may still write an older one the index has not
    shown yet) are read every sweep and acted on, but neither folded into the saved open set nor passed by the
    cursor: the saved set is what the cursor covers, and it must not change with the unsettled tail."""
    now = direct.now()
    _deregistered(direct, "settled-1", now - 2000)
    _deregistered(direct, "unsettled-2", now - 10)
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    run.load()
    run.read()
    assert run.saved == {"DEREGISTERED": {"settled-1": now - 2000}}
    assert run.current == {"DEREGISTERED": {"settled-1": now - 2000, "unsettled-2": now - 10}}
    assert run.progress is not None and run.progress.records_read == 1


def test_a_record_exactly_the_settling_time_old_is_not_settled_yet(direct: Direct) -> None:
    now = direct.now()
    _deregistered(direct, "on-the-boundary", now - 900)
    run = reconcile.GroupRun("web", SWEEP, reconcile.Budget(None))
    run.load()
    run.read()
    assert run.saved == {} and run.current == {"DEREGISTERED": {"on-the-boundary": now - 900}}
    assert run.progress is not None and (run.progress.cursor or "") == ""


def _exited_standby_then_gone(d: Direct, monkeypatch: pytest.MonkeyPatch) -> Any:
    """On a real Auto Scaling fleet: taken out with Standby and in Standby; then terminated (Spot, a person)
    between ExitStandby and the second target group's RegisterTargets, which refuses it; EC2 says terminated."""
    record = d.take_out(standby=d.enter_standby())
    d.rt.clock.advance(400)  # past the deregistration delay: in Standby
    assert d.sim.asg_lifecycle(d.instance) == "Standby"
    real = put_back.elbv2.register

    def second_refused(arn: str, instance: str, port: int | None) -> None:
        if arn == d.tgs[1]:
            raise AwsCallFailed("RegisterTargets: InvalidTarget")
        real(arn, instance, port)

    monkeypatch.setattr(put_back.elbv2, "register", second_refused)
    monkeypatch.setattr(put_back.ec2, "power", lambda instance: ("terminated", False, "seen"))
    return record


def test_a_put_back_that_finds_the_instance_gone_still_says_what_it_did_to_its_standby(
        direct_asg: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    record = _exited_standby_then_gone(direct_asg, monkeypatch)
    mark = direct_asg.mark()
    result = put_back.put_back(record.facts)
    # THEN the result says both: gone, and Standby exited (audited as such by the caller)
    assert result == put_back.PutBack(direct_asg.instance, [direct_asg.tgs[0]], standby.EXITED, gone="terminated")
    assert [op for op, _ in direct_asg.changes_since(mark)] == ["ExitStandby", "RegisterTargets"]


def test_the_reconciler_audits_standby_exited_for_a_gone_instance(direct_asg: Direct,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _exited_standby_then_gone(direct_asg, monkeypatch)
    opened(direct_asg)
    reconcile.reconcile_group("web", SWEEP)
    [done] = trail(event="RECONCILED")
    assert done["details"]["gone"] == "terminated" and done["details"]["standby"] == standby.EXITED
    [exited] = trail(event="STANDBY_EXITED")
    assert exited["instance_id"] == direct_asg.instance and exited["remediation_id"] == "direct-1"
