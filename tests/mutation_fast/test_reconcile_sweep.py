"""The sweep's reconciler step (steps/sweep/reconcile.py) around the groups: which groups it visits, the stale
instance claims it releases, its answer, its time budget, and how it folds the audit trail into open items."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from steps.core import groups
from steps.store import audit, claim, lock, reconcile_progress
from steps.sweep import reconcile
from tests.harness import Direct, invoke

SWEEP = "arn:aws:states:us-east-1:123456789012:execution:nightshift-sweep:sweep-2"
DEAD = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:dead"
LIVE = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:live"


class Clock:
    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def get_remaining_time_in_millis(self) -> float:
        return self.values.pop(0) if self.values else 600_000.0


def running(monkeypatch: pytest.MonkeyPatch, *live: str) -> None:
    monkeypatch.setattr(reconcile, "execution_status", lambda arn: "RUNNING" if arn in live else "SUCCEEDED")


def claimed(d: Direct, instance: str, owner: str, group: str = "web") -> None:
    assert claim.acquire(instance, owner, group, f"rid-{instance}", d.now(), 7200, lambda _: "GONE").claimed


# -- Budget ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("remaining", "low"), [(19_999.5, True), (20_000, False), (0, True), (90_000, False)])
def test_the_budget_is_low_below_20_seconds(remaining: float, low: bool) -> None:
    budget = reconcile.Budget(Clock(remaining, remaining))
    assert budget.low() is low


def test_the_budget_reads_the_context_each_time() -> None:
    budget = reconcile.Budget(Clock(50_000, 12_000))
    assert budget.remaining_ms() == 50_000.0 and budget.remaining_ms() == 12_000.0


def test_without_a_usable_context_the_budget_is_90_seconds_from_now() -> None:
    for context in (None, SimpleNamespace(get_remaining_time_in_millis=30_000)):
        budget = reconcile.Budget(context)
        assert 89_000 < budget.remaining_ms() <= 90_000
        assert budget.low() is False


# -- fold --------------------------------------------------------------------------------------------------------

def rec(event: str, rid: str | None, at: float = 5.0) -> Any:
    return SimpleNamespace(event=event, remediation_id=rid, at=at)


def test_fold_opens_and_closes_by_event() -> None:
    items: dict[str, dict[str, float]] = {}
    reconcile.fold(items, rec("DEREGISTERED", "a", 1))
    reconcile.fold(items, rec("DEREGISTERED", "b", 2))
    reconcile.fold(items, rec("STANDBY_ENTERED", "a", 3))
    assert items == {"DEREGISTERED": {"a": 1.0, "b": 2.0}, "STANDBY_ENTERED": {"a": 3.0}}
    assert isinstance(items["DEREGISTERED"]["a"], float)
    reconcile.fold(items, rec("STANDBY_EXITED", "a"))
    assert items == {"DEREGISTERED": {"a": 1.0, "b": 2.0}, "STANDBY_ENTERED": {}}
    for closing, rid in (("RESTORED", "a"), ("HEALTHY", "b")):
        reconcile.fold(items, rec(closing, rid))
    assert items == {"DEREGISTERED": {}, "STANDBY_ENTERED": {}}
    reconcile.fold(items, rec("DEREGISTERED", "c"))
    reconcile.fold(items, rec("RECONCILED", "c"))
    assert items["DEREGISTERED"] == {}


def test_fold_ignores_other_events_and_records_without_a_remediation() -> None:
    items: dict[str, dict[str, float]] = {"DEREGISTERED": {"a": 1.0}}
    for event in ("SELECTED", "REBOOT_REQUESTED", "STANDBY_EXITED", "FAILED"):
        reconcile.fold(items, rec(event, "a"))
    reconcile.fold(items, rec("DEREGISTERED", None))
    reconcile.fold(items, rec("DEREGISTERED", ""))
    reconcile.fold(items, rec("RESTORED", ""))
    assert items == {"DEREGISTERED": {"a": 1.0}}
    empty: dict[str, dict[str, float]] = {}
    reconcile.fold(empty, rec("HEALTHY", "z"))  # a close with nothing open
    assert empty == {}


# -- stale instance claims ---------------------------------------------------------------------------------------

def test_claims_of_ended_owners_are_released_and_audited_in_their_group(direct: Direct,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    acquired = direct.now()
    claimed(direct, "i-00000000000000001", DEAD, "api")
    claimed(direct, "i-00000000000000002", LIVE)
    direct.rt.clock.advance(300)
    running(monkeypatch, LIVE)
    assert reconcile.release_stale_claims(SWEEP, reconcile.Budget(None)) == ["i-00000000000000001"]
    assert claim.holder("i-00000000000000001") is None
    held = claim.holder("i-00000000000000002")
    assert held is not None and held.owner == LIVE
    [released] = [audit.as_dict(r) for r in audit.for_group("api")]
    assert released["event"] == "CLAIM_RELEASED_STALE" and released["instance_id"] == "i-00000000000000001"
    assert released["reason"] == (f"releasing the claim on i-00000000000000001 held by {DEAD}, which is no longer "
                                  "running (conditionally on that owner)")
    assert released["details"] == {"owner": DEAD, "acquired_at": acquired}
    assert released["execution_id"] == SWEEP and released["remediation_id"] == "rid-i-00000000000000001"
    assert released["trigger"] == "schedule" and released["at"] == direct.now()
    assert list(audit.for_group("web")) == []


def test_a_live_claim_does_not_stop_the_release_of_the_next(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    for n, owner in enumerate((LIVE, DEAD, LIVE, DEAD)):
        claimed(direct, f"i-0000000000000000{n}", owner)
    direct.rt.clock.advance(300)
    running(monkeypatch, LIVE)
    released = reconcile.release_stale_claims(SWEEP, reconcile.Budget(None))
    assert sorted(released) == ["i-00000000000000001", "i-00000000000000003"]


def test_a_claim_whose_owner_is_not_found_yet_is_kept_for_its_grace(direct: Direct,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    claimed(direct, "i-00000000000000001", DEAD)
    monkeypatch.setattr(reconcile, "execution_status", lambda arn: "GONE")
    direct.rt.clock.advance(119)
    assert reconcile.release_stale_claims(SWEEP, reconcile.Budget(None)) == []
    direct.rt.clock.advance(1)
    assert reconcile.release_stale_claims(SWEEP, reconcile.Budget(None)) == ["i-00000000000000001"]


def test_a_claim_released_meanwhile_is_not_reported(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    claimed(direct, "i-00000000000000001", DEAD)
    running(monkeypatch)
    monkeypatch.setattr(reconcile.claim, "release", lambda instance, owner: False)
    assert reconcile.release_stale_claims(SWEEP, reconcile.Budget(None)) == []
    # written ahead of the release (a throttled write after it would leave none), saying it is conditional
    [ahead] = [audit.as_dict(r) for r in audit.for_group("web")]
    assert ahead["event"] == "CLAIM_RELEASED_STALE" and "conditionally on that owner" in ahead["reason"]


def test_a_low_budget_stops_the_claim_release(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    claimed(direct, "i-00000000000000001", DEAD)
    running(monkeypatch)
    with pytest.raises(reconcile.Stopped, match=r"^time budget ran low while releasing stale instance claims$"):
        reconcile.release_stale_claims(SWEEP, reconcile.Budget(Clock(19_999)))
    assert claim.holder("i-00000000000000001") is not None


# -- the handler ---------------------------------------------------------------------------------------------------

def test_the_handler_reconciles_every_group_then_the_claims(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    claimed(direct, "i-00000000000000001", DEAD)
    lock.acquire("web", DEAD, direct.now(), 7200, lambda arn: "SUCCEEDED")
    running(monkeypatch)
    answer = invoke(reconcile.handler, {"execution_id": SWEEP, "extra": "ignored"})
    assert answer == {"groups": {"web": {"restored": [], "standby_exited": [], "stale_lock_released": DEAD}},
                      "stale_claims_released": ["i-00000000000000001"]}


def test_a_failing_claim_release_does_not_hide_the_groups(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    running(monkeypatch)

    def broken() -> Any:
        raise RuntimeError("x" * 1200)

    monkeypatch.setattr(reconcile.claim, "all_claims", broken)
    answer = invoke(reconcile.handler, {"execution_id": SWEEP})
    assert answer == {"groups": {"web": {"restored": [], "standby_exited": [], "stale_lock_released": None}},
                      "stale_claims_released": [],
                      "stale_claims_error": {"error": "RuntimeError", "cause": "x" * 1000}}


def test_the_handler_refuses_an_event_without_its_execution() -> None:
    with pytest.raises(ValueError, match="execution_id"):
        invoke(reconcile.handler, {})


# -- which groups ------------------------------------------------------------------------------------------------

def warnings(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.levelname == "WARNING"]


def test_declared_groups_then_undeclared_ones_with_work(direct: Direct, caplog: pytest.LogCaptureFixture) -> None:
    assert reconcile.groups_to_reconcile() == ["web"]
    assert warnings(caplog) == []
    reconcile_progress.mark_work("zeta", direct.now())
    reconcile_progress.mark_work("alpha", direct.now())
    reconcile_progress.mark_work("web", direct.now())
    assert reconcile.groups_to_reconcile() == ["web", "alpha", "zeta"]
    [warned] = warnings(caplog)  # an operator sees which groups are reconciled from the lock table alone
    assert warned.getMessage() == "reconciling groups the declaration does not name"
    assert warned.groups == ["alpha", "zeta"]


def test_an_unreadable_declaration_still_reconciles_groups_with_work(direct: Direct,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    direct.rt.client("ssm").put_parameter(Name="/nightshift/groups", Value="{not json", Type="String",
                                          Overwrite=True)
    groups.reset()
    reconcile_progress.mark_work("old", direct.now())
    assert reconcile.groups_to_reconcile() == ["old"]
    unusable, undeclared = warnings(caplog)
    assert unusable.getMessage().startswith("groups declaration unusable, reconciling from the lock table only: ")
    assert "JSON" in unusable.getMessage()
    assert undeclared.groups == ["old"]
