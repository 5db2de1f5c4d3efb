"""Fast, direct tests of the code added after review on 2026-11-27 (so `make mutation` sees them): the gone
check of a put-back, the reconciler's once-per-sweep audits and its retry decision, the daily notice of a
failed reconcile, and the restore step's report on the declaration. Expected values stated by hand."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from steps.core import groups
from steps.core.exceptions import AwsCallFailed, AwsThrottled, AwsUnavailable, ConfigurationError
from steps.remediate import put_back, restore_service, standby
from steps.store import audit
from steps.sweep import reconcile
from tests.harness import Direct, fail_first_call

SWEEP = "arn:aws:states:us-east-1:123456789012:execution:nightshift-sweep:sweep-9"
OWNER = "arn:aws:states:us-east-1:123456789012:execution:nightshift-remediate:dead"


def refused(code: str) -> AwsCallFailed:
    try:
        raise ClientError({"Error": {"Code": code, "Message": code}}, "DescribeInstanceStatus")
    except ClientError as cause:
        error = AwsCallFailed(f"DescribeInstanceStatus: {code}")
        error.__cause__ = cause
        return error


# -- put_back.gone_state -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "gone"), [
    ("terminated", "terminated"), ("shutting-down", "shutting-down"), ("running", None), ("stopped", None),
    ("stopping", None), ("pending", None), ("unknown", None),
])
def test_only_an_instance_being_or_already_terminated_is_gone(monkeypatch: pytest.MonkeyPatch, state: str,
                                                              gone: str | None) -> None:
    asked: list[str] = []

    def power(instance: str) -> tuple[str, bool, str]:
        asked.append(instance)
        return state, False, "seen"

    monkeypatch.setattr(put_back.ec2, "power", power)
    assert put_back.gone_state("i-0123456789abcdef0") == gone
    assert asked == ["i-0123456789abcdef0"]


def test_an_instance_ec2_no_longer_lists_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    def power(_: str) -> Any:
        raise refused("InvalidInstanceID.NotFound")

    monkeypatch.setattr(put_back.ec2, "power", power)
    assert put_back.gone_state("i-0123456789abcdef0") == "not found"


@pytest.mark.parametrize("error", [refused("InvalidInstanceID.Malformed"), AwsCallFailed("no ClientError behind it")])
def test_any_other_refusal_of_the_gone_check_is_raised(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def power(_: str) -> Any:
        raise error

    monkeypatch.setattr(put_back.ec2, "power", power)
    with pytest.raises(AwsCallFailed):
        put_back.gone_state("i-0123456789abcdef0")


def test_the_put_back_sentences() -> None:
    assert put_back.PutBack("i-1", gone="terminated").sentence() == \
        "i-1 no longer exists (terminated): nothing to put back"
    assert put_back.PutBack("i-1", being_replaced=True).sentence() == \
        "left it to its Auto Scaling group, which is replacing it"
    assert put_back.PutBack("i-1", ["a", "b"]).sentence() == "put i-1 back in 2 target group(s)"
    assert put_back.PutBack("i-1", ["a"], gone="not found").numbers() == \
        {"target_groups": ["a"], "standby": standby.NOT_NEEDED, "being_replaced": False, "gone": "not found"}
    assert "gone" not in put_back.PutBack("i-1").numbers()


def test_a_put_back_refused_for_a_terminated_instance_reports_it_gone(direct: Direct,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    facts = {"deregister": {"instance_id": direct.instance, "standby": None,
                            "target_groups": [{"arn": tg, "port": None} for tg in direct.tgs]}}
    registered: list[str] = []

    def register(arn: str, instance: str, port: int | None) -> None:
        registered.append(arn)
        if len(registered) == 2:
            raise AwsCallFailed("RegisterTargets: InvalidTarget")

    monkeypatch.setattr(put_back.elbv2, "register", register)
    monkeypatch.setattr(put_back, "gone_state", lambda instance: "terminated")
    result = put_back.put_back(facts)
    assert result == put_back.PutBack(direct.instance, [direct.tgs[0]], standby.NOT_NEEDED, gone="terminated")
    monkeypatch.setattr(put_back, "gone_state", lambda instance: None)
    registered.clear()
    with pytest.raises(AwsCallFailed):
        put_back.put_back(facts)


# -- the reconciler ---------------------------------------------------------------------------------------------

def test_raise_if_transient_rules() -> None:
    reconcile.raise_if_transient({})
    reconcile.raise_if_transient({"web": {"restored": []},
                                  "api": {"failed": {"error": "ItemsFailed", "transient": False}}})
    with pytest.raises(AwsThrottled) as throttled:
        reconcile.raise_if_transient({
            "web": {"failed": {"error": "ItemsFailed", "cause": "r1: throttled", "transient": True,
                               "open_remediations": ["r1", "r2"], "items": [{"error": "AwsThrottled"}]}},
            "api": {"failed": {"error": "ItemsFailed", "transient": False}}})
    assert str(throttled.value) == ("reconcile of web hit AWS errors, tried again by the sweep: web: ItemsFailed: "
                                    "r1: throttled (open: r1, r2)")
    with pytest.raises(AwsUnavailable) as outage:
        reconcile.raise_if_transient({"b": {"failed": {"error": "AwsUnavailable", "cause": "5xx", "transient": True}},
                                      "a": {"failed": {"error": "AwsUnavailable", "cause": "5xx", "transient": True}}})
    assert str(outage.value).startswith("reconcile of a, b hit AWS errors, tried again by the sweep: a: AwsUnavailable")
    with pytest.raises(AwsThrottled):
        reconcile.raise_if_transient({"a": {"failed": {"error": "AwsThrottled", "cause": "x", "transient": True}},
                                      "b": {"failed": {"error": "AwsUnavailable", "cause": "y", "transient": True}}})
    with pytest.raises(AwsUnavailable) as long:
        reconcile.raise_if_transient({"a": {"failed": {"error": "AwsUnavailable", "cause": "x" * 5000,
                                                       "transient": True}}})
    assert len(str(long.value)) == 4000


def test_a_group_whose_own_audit_writes_are_throttled_is_a_transient_failure(direct: Direct,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(*_: Any) -> Any:
        raise AwsThrottled("PutItem: throttled")

    monkeypatch.setattr(reconcile, "reconcile_group", throttled)
    assert reconcile._reconcile_one("web", SWEEP, reconcile.Budget(None)) == {
        "restored": [], "standby_exited": [], "stale_lock_released": None,
        "failed": {"error": "AwsThrottled", "cause": "PutItem: throttled", "transient": True}}


def test_reconcile_failed_is_audited_and_measured_once_per_sweep_execution(direct: Direct) -> None:
    now = direct.now()
    reconcile._audit_failed_once("web", now, SWEEP, "it failed", {"error": "ItemsFailed"})
    direct.rt.clock.advance(60)
    reconcile._audit_failed_once("web", direct.now(), SWEEP, "it failed again", {"error": "ItemsFailed"})
    records = [audit.as_dict(r) for r in audit.for_group("web")]
    assert [(r["event"], r["reason"], r["execution_id"], r["at"]) for r in records] == [
        ("RECONCILE_FAILED", "it failed", SWEEP, now)]
    assert len([b for b in direct.rt.metrics if "ReconcileFailed" in b]) == 1
    reconcile._audit_failed_once("web", direct.now(), SWEEP + "-next", "the next sweep", {"error": "ItemsFailed"})
    assert [r.reason for r in audit.for_group("web")] == ["it failed", "the next sweep"]
    reconcile._audit_failed_once("api", direct.now(), SWEEP, "another group", {"error": "ItemsFailed"})
    assert [r.reason for r in audit.for_group("api")] == ["another group"]


def test_an_earlier_attempt_is_matched_by_event_execution_and_owner(direct: Direct) -> None:
    now = direct.now()
    audit.record(audit.AuditEntry(group="web", event="LOCK_RELEASED_STALE", at=now - 3000, execution_id=SWEEP,
                                  trigger="schedule", reason="r", details={"owner": OWNER}))
    seen = reconcile._audited_by_this_sweep
    assert seen("web", "LOCK_RELEASED_STALE", SWEEP, now, OWNER)
    assert seen("web", "LOCK_RELEASED_STALE", SWEEP, now)
    assert not seen("web", "LOCK_RELEASED_STALE", SWEEP, now, OWNER + "-other")
    assert not seen("web", "LOCK_RELEASED_STALE", SWEEP + "-other", now, OWNER)
    assert not seen("web", "CLAIM_RELEASED_STALE", SWEEP, now, OWNER)
    assert not seen("api", "LOCK_RELEASED_STALE", SWEEP, now, OWNER)
    assert not seen("web", "LOCK_RELEASED_STALE", SWEEP, now + 700, OWNER)  # older than the sweep's attempts


def test_a_duplicate_check_that_cannot_read_says_not_yet(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("Query failed")

    monkeypatch.setattr(reconcile.audit, "for_group", broken)
    assert reconcile._audited_by_this_sweep("web", "RECONCILE_FAILED", SWEEP, direct.now()) is False


def test_stale_claims_are_audited_once_per_sweep(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    from steps.store import claim

    assert claim.acquire("i-00000000000000001", OWNER, "web", "rid-1", direct.now(), 7200, lambda _: "GONE").claimed
    direct.rt.clock.advance(300)
    monkeypatch.setattr(reconcile, "execution_status", lambda arn: "SUCCEEDED")
    fail_first_call(monkeypatch, reconcile.claim, "release", AwsThrottled("DeleteItem: throttled"))
    with pytest.raises(AwsThrottled):
        reconcile.release_stale_claims(SWEEP, reconcile.Budget(None))
    direct.rt.clock.advance(4)
    assert reconcile.release_stale_claims(SWEEP, reconcile.Budget(None)) == ["i-00000000000000001"]
    [record] = [audit.as_dict(r) for r in audit.for_group("web")]
    assert record["event"] == "CLAIM_RELEASED_STALE" and record["details"]["owner"] == OWNER


# -- the restore step's report on the declaration ----------------------------------------------------------------

def test_configuration_now_says_what_the_declaration_is(direct: Direct, monkeypatch: pytest.MonkeyPatch) -> None:
    assert restore_service.configuration_now("web") == (
        "valid_again", "the groups declaration could not be used when the step ran (it is valid again now)")
    assert restore_service.configuration_now("gone") == (
        "removed", "group 'gone' is no longer declared in the groups declaration")

    def invalid() -> Any:
        raise ConfigurationError("x" * 400)

    monkeypatch.setattr(groups, "load", invalid)
    assert restore_service.configuration_now("web") == ("invalid", f"the groups declaration is invalid ({'x' * 300})")

    def unreadable() -> Any:
        raise AwsThrottled("y" * 300)

    monkeypatch.setattr(groups, "load", unreadable)
    assert restore_service.configuration_now("web") == (
        "unreadable", f"the groups declaration could not be read (AwsThrottled: {'y' * 200})")
